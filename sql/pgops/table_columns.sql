-- The columns of the given tables (by schema.name).
select n.nspname as schema, t.relname as table_name, a.attname as column_name
from pg_catalog.pg_attribute a
join pg_catalog.pg_class t on t.oid = a.attrelid
join pg_catalog.pg_namespace n on n.oid = t.relnamespace
where a.attnum > 0 and not a.attisdropped and t.relkind in ('r', 'p')
  and n.nspname || '.' || t.relname = any(%(tables)s);
