-- Pairs of indexes on one table where the first is redundant: same columns (duplicate), or its columns
-- are a leading prefix of the other's (overlapping). Unique and partial indexes are never called redundant.
-- pg_ops: step=monitoring_schema

-- Dropped and recreated in one transaction: CREATE OR REPLACE cannot change a column's type.
drop view if exists monitoring.duplicate_indexes;
create view monitoring.duplicate_indexes as
select n.nspname as schema, t.relname as table_name,
       n.nspname || '.' || ca.relname as redundant_index, n.nspname || '.' || cb.relname as covered_by,
       case when a.indkey::text = b.indkey::text then 'DUPLICATE' else 'OVERLAPPING' end as kind,
       pg_relation_size(a.indexrelid) as redundant_bytes
from pg_index a
join pg_index b on b.indrelid = a.indrelid and b.indexrelid <> a.indexrelid
join pg_class t on t.oid = a.indrelid
join pg_namespace n on n.oid = t.relnamespace
join pg_class ca on ca.oid = a.indexrelid
join pg_class cb on cb.oid = b.indexrelid
where not a.indisunique and a.indpred is null and b.indpred is null
  and a.indexprs is null and b.indexprs is null
  and ca.relam = cb.relam
  and (b.indkey::text || ' ') like (a.indkey::text || ' %')
  and (a.indkey::text <> b.indkey::text or a.indexrelid > b.indexrelid)
  and n.nspname not in ('pg_catalog', 'information_schema');
