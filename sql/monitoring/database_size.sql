-- This database's size, split into tables, indexes and the number of functions.
-- pg_ops: step=monitoring_schema

-- Dropped and recreated in one transaction: CREATE OR REPLACE cannot change a column's type.
drop view if exists monitoring.database_size;
create view monitoring.database_size as
select current_database() as database_name,
       pg_database_size(current_database()) as total_bytes,
       pg_size_pretty(pg_database_size(current_database())) as total_size,
       (select coalesce(sum(pg_table_size(c.oid)), 0) from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'm', 'p') and n.nspname not in ('pg_catalog', 'information_schema'))::bigint
         as table_bytes,
       (select coalesce(sum(pg_relation_size(c.oid)), 0) from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind = 'i' and n.nspname not in ('pg_catalog', 'information_schema'))::bigint as index_bytes,
       (select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname not in ('pg_catalog', 'information_schema')) as functions;
