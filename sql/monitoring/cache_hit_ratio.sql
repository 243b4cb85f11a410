-- Buffer cache hit ratio: the whole database (scope = 'database') and each application table.
-- pg_ops: step=monitoring_schema

-- Dropped and recreated in one transaction: CREATE OR REPLACE cannot change a column's type.
drop view if exists monitoring.cache_hit_ratio;
create view monitoring.cache_hit_ratio as
select 'database' as scope, current_database() as name,
       round(100.0 * d.blks_hit / nullif(d.blks_hit + d.blks_read, 0), 2) as hit_ratio,
       d.blks_hit as hits, d.blks_read as reads
from pg_stat_database d where d.datname = current_database()
union all
select 'table', t.schemaname || '.' || t.relname,
       round(100.0 * t.heap_blks_hit / nullif(t.heap_blks_hit + t.heap_blks_read, 0), 2),
       t.heap_blks_hit, t.heap_blks_read
from pg_statio_user_tables t;
