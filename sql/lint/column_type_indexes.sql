-- Index key columns of a type that rarely belongs there: boolean (two values: a partial index WHERE col says
-- more) and arrays under a btree (it compares whole arrays; `@>` and `&&` need GIN).
select n.nspname as schema, t.relname as table_name, i.relname as index_name, a.attname as column_name,
       am.amname as method, case when ty.typcategory = 'A' then 'array' else 'boolean' end as kind
from pg_catalog.pg_index x
join pg_catalog.pg_class i on i.oid = x.indexrelid
join pg_catalog.pg_am am on am.oid = i.relam
join pg_catalog.pg_class t on t.oid = x.indrelid
join pg_catalog.pg_namespace n on n.oid = t.relnamespace
join lateral pg_catalog.unnest((x.indkey::int2[])[0:x.indnkeyatts - 1]) k(attnum) on true
join pg_catalog.pg_attribute a on a.attrelid = x.indrelid and a.attnum = k.attnum
join pg_catalog.pg_type ty on ty.oid = a.atttypid
where (ty.oid = 'pg_catalog.bool'::regtype or (ty.typcategory = 'A' and am.amname = 'btree'))
  and not (n.nspname = any(%(skipped)s))
order by 1, 2, 3, 4;
