-- The policies of the given tables ('schema.table'), as a policy file's down must leave them.
select schemaname || '.' || tablename as "table", policyname as policy, permissive, roles::text[] as roles,
       cmd, qual, with_check
from pg_catalog.pg_policies
where schemaname || '.' || tablename = any(%(tables)s)
order by 1, 2;
