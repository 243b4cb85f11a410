-- The key columns of every valid index on the given tables (by name), in order; and the tables' columns.
select n.nspname as schema, t.relname as table_name, i.relname as index_name,
       array(select a.attname::text from pg_catalog.unnest((x.indkey::int2[])[0:x.indnkeyatts - 1])
             with ordinality k(attnum, ord)
             join pg_catalog.pg_attribute a on a.attrelid = x.indrelid and a.attnum = k.attnum
             order by k.ord) as key_columns
from pg_catalog.pg_index x
join pg_catalog.pg_class i on i.oid = x.indexrelid
join pg_catalog.pg_class t on t.oid = x.indrelid
join pg_catalog.pg_namespace n on n.oid = t.relnamespace
where x.indisvalid and x.indexprs is null and x.indpred is null
  and n.nspname || '.' || t.relname = any(%(tables)s);
