-- Partial indexes whose predicate says `col IS NOT NULL` of a NOT NULL column: the condition filters
-- nothing, and a query must repeat it to use the index.
select n.nspname as schema, t.relname as table_name, i.relname as index_name, a.attname as column_name,
       pg_catalog.pg_get_expr(x.indpred, x.indrelid) as predicate
from pg_catalog.pg_index x
join pg_catalog.pg_class i on i.oid = x.indexrelid
join pg_catalog.pg_class t on t.oid = x.indrelid
join pg_catalog.pg_namespace n on n.oid = t.relnamespace
join pg_catalog.pg_attribute a on a.attrelid = x.indrelid and a.attnum > 0 and not a.attisdropped and a.attnotnull
where x.indpred is not null
  and pg_catalog.pg_get_expr(x.indpred, x.indrelid) ~* ('(^|\W)' || pg_catalog.quote_ident(a.attname) || ' IS NOT NULL')
  and not (n.nspname = any(%(skipped)s))
order by 1, 2, 3;
