-- Pairs of indexes on one table whose key columns overlap from the start, with the same predicate, where the
-- narrower one is unique or partial: what monitoring.duplicate_indexes leaves out (it judges plain indexes).
-- Often on purpose: a primary key enforces uniqueness and a wider index beside it (more key columns, or
-- INCLUDE) serves index-only scans. Not on purpose: two unique indexes on the same keys, or a partial index
-- whose keys lead another's with the same predicate.
with keyed as (
  select x.indexrelid, x.indrelid, x.indisunique, c.relam,
         (x.indkey::int2[])[0:x.indnkeyatts - 1] as key_columns,
         x.indnatts > x.indnkeyatts as has_include,
         coalesce(pg_catalog.pg_get_expr(x.indpred, x.indrelid), '') as predicate,
         x.indexprs is not null as has_expressions
  from pg_catalog.pg_index x
  join pg_catalog.pg_class c on c.oid = x.indexrelid
  where x.indisvalid  -- an INVALID one is reported as such
)
select n.nspname as schema, t.relname as table_name, ca.relname as narrower_index, cb.relname as wider_index,
       a.indisunique as narrower_unique, b.indisunique as wider_unique,
       cardinality(b.key_columns) > cardinality(a.key_columns) as wider_has_more_keys,
       b.has_include and not a.has_include as wider_has_include,
       pg_catalog.pg_relation_size(b.indexrelid) as wider_bytes
from keyed a
join keyed b on b.indrelid = a.indrelid and b.indexrelid <> a.indexrelid
join pg_catalog.pg_class ca on ca.oid = a.indexrelid
join pg_catalog.pg_class cb on cb.oid = b.indexrelid
join pg_catalog.pg_class t on t.oid = a.indrelid
join pg_catalog.pg_namespace n on n.oid = t.relnamespace
where a.relam = b.relam and not a.has_expressions and not b.has_expressions
  and a.predicate = b.predicate
  and (a.indisunique or a.predicate <> '')
  and b.key_columns[1:cardinality(a.key_columns)] = a.key_columns
  and (cardinality(b.key_columns) > cardinality(a.key_columns) or (b.has_include and not a.has_include)
       -- the same keys: the pair once (a plain index beside a unique one is duplicate_indexes' DUPLICATE)
       or (cardinality(b.key_columns) = cardinality(a.key_columns) and b.has_include = a.has_include
           and a.indisunique = b.indisunique and a.indexrelid < b.indexrelid))
  and not (n.nspname = any(%(skipped)s))
order by 1, 2, 3, 4;
