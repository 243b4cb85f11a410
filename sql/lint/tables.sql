-- Tables (plain and partitioned) in the schemas pg_ops lints: row-level security on or off, policy count.
select n.nspname as schema, c.relname as table_name, c.relrowsecurity as rls_enabled,
       (select count(*) from pg_catalog.pg_policy p where p.polrelid = c.oid) as policies,
       pg_catalog.obj_description(c.oid, 'pg_class') as comment
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p') and not c.relispartition
  and not (n.nspname = any(%(skipped)s))
order by 1, 2;
