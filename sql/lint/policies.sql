-- Row-level-security policies of the tables pg_ops lints. Run with an empty search_path: pg_get_expr then
-- prints every function outside pg_catalog schema-qualified, whatever search_path the policy was written with.
select n.nspname as schema, c.relname as table_name, p.polname as policy,
       case p.polcmd when 'r' then 'SELECT' when 'a' then 'INSERT' when 'w' then 'UPDATE'
                     when 'd' then 'DELETE' else 'ALL' end as command,
       p.polpermissive as permissive,
       case when p.polroles = '{0}' then array['public']::text[]
            else array(select r.rolname::text from pg_catalog.pg_roles r where r.oid = any(p.polroles)
                       order by r.rolname) end as roles,
       pg_catalog.pg_get_expr(p.polqual, p.polrelid) as using_expr,
       pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) as check_expr,
       pg_catalog.obj_description(p.oid, 'pg_policy') as comment
from pg_catalog.pg_policy p
join pg_catalog.pg_class c on c.oid = p.polrelid
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where not (n.nspname = any(%(skipped)s))
order by 1, 2, 3;
