-- This database's size, split into tables, indexes and the number of functions.
-- The total is exact (pg_database_size); the split is pages as of the last VACUUM, ANALYZE or CREATE INDEX
-- (pg_class.relpages), because asking the filesystem per relation costs 40 ms per read at 1,000 tables.
-- pg_ops: step=monitoring_schema

-- Dropped and recreated in one transaction: CREATE OR REPLACE cannot change a column's type.
drop view if exists monitoring.database_size;
create view monitoring.database_size as
select current_database() as database_name,
       d.total_bytes,
       pg_size_pretty(d.total_bytes) as total_size,
       (select coalesce(sum(c.relpages::bigint + coalesce(toast.relpages, 0)), 0)
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        left join pg_class toast on toast.oid = c.reltoastrelid
        where c.relkind in ('r', 'm', 'p') and n.nspname not in ('pg_catalog', 'information_schema'))::bigint
         * current_setting('block_size')::bigint as table_bytes,
       (select coalesce(sum(c.relpages::bigint), 0) from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind = 'i' and n.nspname not in ('pg_catalog', 'information_schema'))::bigint
         * current_setting('block_size')::bigint as index_bytes,
       (select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname not in ('pg_catalog', 'information_schema')) as functions
-- Once: it walks the database's directory.
from (select pg_database_size(current_database()) as total_bytes) d;
