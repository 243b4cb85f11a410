-- The size and validity of the indexes the rollout's files build (names passed in, schema-qualified).
select n.nspname || '.' || c.relname as index, t.relname as table_name, pg_relation_size(c.oid) as bytes,
       i.indisvalid as valid
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
join pg_index i on i.indexrelid = c.oid
join pg_class t on t.oid = i.indrelid
where n.nspname || '.' || c.relname = any(%(names)s)
order by pg_relation_size(c.oid) desc
