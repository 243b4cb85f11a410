-- Every application table: sequential against index scans, live and dead tuples, maintenance, size.
-- pg_ops: step=monitoring_schema

-- Dropped and recreated in one transaction: CREATE OR REPLACE cannot change a column's type.
drop view if exists monitoring.table_statistics;
create view monitoring.table_statistics as
select s.schemaname as schema, s.relname as table_name,
       s.seq_scan, s.seq_tup_read, coalesce(s.idx_scan, 0) as idx_scan,
       round(100.0 * s.seq_scan / nullif(s.seq_scan + coalesce(s.idx_scan, 0), 0), 2) as seq_scan_ratio,
       s.n_live_tup as live_tuples, s.n_dead_tup as dead_tuples,
       round(100.0 * s.n_dead_tup / nullif(s.n_live_tup + s.n_dead_tup, 0), 2) as dead_tuple_ratio,
       greatest(s.last_vacuum, s.last_autovacuum) as last_vacuum,
       greatest(s.last_analyze, s.last_autoanalyze) as last_analyze,
       pg_total_relation_size(s.relid) as total_bytes,
       pg_size_pretty(pg_total_relation_size(s.relid)) as total_size
from pg_stat_user_tables s;
