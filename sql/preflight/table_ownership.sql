-- Ordinary tables in user schemas the connecting role can not index (CREATE INDEX needs the owner).
select n.nspname || '.' || c.relname as table_name, pg_get_userbyid(c.relowner) as owner
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p')
  and n.nspname not in ('pg_catalog', 'information_schema')
  and n.nspname not like 'pg\_%'
  and n.nspname not in ('auth', 'extensions', 'pgops_demo', 'pg_ops', 'monitoring')
  and not pg_has_role(current_user, c.relowner, 'USAGE')
order by 1;
