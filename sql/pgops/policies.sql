-- Row-level-security policies of the application's tables, as the rls_policies asset reports them.
select schemaname as schema, tablename as table, policyname as policy, cmd, roles::text as roles,
       permissive
from pg_policies
where schemaname = 'public'
order by 1, 2, 3;
