-- Indexes that are not valid and ready: a failed CREATE INDEX CONCURRENTLY leaves one behind.
-- pg_ops: step=monitoring_schema

-- Dropped and recreated in one transaction: CREATE OR REPLACE cannot change a column's type.
drop view if exists monitoring.invalid_indexes;
create view monitoring.invalid_indexes as
select n.nspname as schema, c.relname as index_name, t.relname as table_name,
       i.indisvalid as valid, i.indisready as ready,
       exists (select 1 from pg_stat_progress_create_index p where p.index_relid = c.oid) as being_built
from pg_index i
join pg_class c on c.oid = i.indexrelid
join pg_class t on t.oid = i.indrelid
join pg_namespace n on n.oid = c.relnamespace
where not (i.indisvalid and i.indisready);
