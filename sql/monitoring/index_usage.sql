-- Every index of the application's tables: how often it is scanned, its size, and a verdict.
-- pg_ops: step=monitoring_schema

-- Dropped and recreated in one transaction: CREATE OR REPLACE cannot change a column's type.
drop view if exists monitoring.index_usage;
create view monitoring.index_usage as
select s.schemaname as schema, s.relname as table_name, s.indexrelname as index_name,
       s.idx_scan as scans, s.idx_tup_read as tuples_read, s.idx_tup_fetch as tuples_fetched,
       pg_relation_size(s.indexrelid) as size_bytes,
       pg_size_pretty(pg_relation_size(s.indexrelid)) as size,
       case when s.idx_scan = 0 then 'NEVER_USED'
            when s.idx_scan < 100 then 'RARELY_USED'
            else 'FREQUENTLY_USED' end as usage
from pg_stat_user_indexes s;
