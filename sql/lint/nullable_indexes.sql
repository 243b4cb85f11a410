-- Plain indexes whose first key column may be NULL and whose predicate does not leave the NULLs out: every
-- NULL row is in the index, though `col = value` never finds one. null_fraction is ANALYZE's estimate.
select n.nspname as schema, t.relname as table_name, i.relname as index_name, a.attname as column_name,
       s.null_frac as null_fraction, pg_catalog.pg_relation_size(x.indexrelid) as bytes
from pg_catalog.pg_index x
join pg_catalog.pg_class i on i.oid = x.indexrelid
join pg_catalog.pg_class t on t.oid = x.indrelid
join pg_catalog.pg_namespace n on n.oid = t.relnamespace
join pg_catalog.pg_attribute a on a.attrelid = x.indrelid and a.attnum = x.indkey[0]
left join pg_catalog.pg_stats s on s.schemaname = n.nspname and s.tablename = t.relname and s.attname = a.attname
where not x.indisunique and x.indkey[0] <> 0 and not a.attnotnull
  and coalesce(pg_catalog.pg_get_expr(x.indpred, x.indrelid), '')
      !~* ('(^|\W)' || pg_catalog.quote_ident(a.attname) || ' IS NOT NULL')
  and not (n.nspname = any(%(skipped)s))
order by 1, 2, 3;
