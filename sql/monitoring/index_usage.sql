-- Every index of the application's tables: how often it is scanned, its size, and a verdict. An index that
-- enforces uniqueness (a primary key, a unique or exclusion constraint) works on every write without being
-- scanned: never scanned, it is CONSTRAINT_ONLY, not NEVER_USED (dropping it would drop the constraint).
-- An index led by a foreign key's columns is FOREIGN_KEY_ONLY when never scanned: it is what a delete or key
-- update of a referenced row will scan, and dropping it makes the key unindexed (pg-index-health keeps foreign
-- key indexes out of its unused ones for the same reason).
-- statistics_since: when the counts began (the last reset, else the server's start).
-- Size is pages as of the last VACUUM, ANALYZE or CREATE INDEX (pg_class.relpages): asking the filesystem per
-- index (pg_relation_size) costs 20 ms per read at 1,000 indexes.
-- pg_ops: step=monitoring_schema

-- Dropped and recreated in one transaction: CREATE OR REPLACE cannot change a column's type.
drop view if exists monitoring.index_usage;
create view monitoring.index_usage as
select s.schemaname as schema, s.relname as table_name, s.indexrelname as index_name,
       s.idx_scan as scans, s.idx_tup_read as tuples_read, s.idx_tup_fetch as tuples_fetched,
       c.relpages::bigint * current_setting('block_size')::bigint as size_bytes,
       pg_size_pretty(c.relpages::bigint * current_setting('block_size')::bigint) as size,
       case when s.idx_scan = 0 and (x.indisunique or x.indisexclusion
                                     or exists (select 1 from pg_constraint k where k.conindid = s.indexrelid))
                 then 'CONSTRAINT_ONLY'
            when s.idx_scan = 0 and exists (
                   select 1 from pg_constraint f
                   where f.contype = 'f' and f.conrelid = s.relid
                     and (x.indkey::int2[])[0:array_length(f.conkey, 1) - 1] @> f.conkey
                     and (x.indkey::int2[])[0:array_length(f.conkey, 1) - 1] <@ f.conkey)
                 then 'FOREIGN_KEY_ONLY'
            when s.idx_scan = 0 then 'NEVER_USED'
            when s.idx_scan < 100 then 'RARELY_USED'
            else 'FREQUENTLY_USED' end as usage,
       (select coalesce(d.stats_reset, pg_postmaster_start_time()) from pg_stat_database d
        where d.datname = current_database()) as statistics_since
from pg_stat_user_indexes s
join pg_class c on c.oid = s.indexrelid
join pg_index x on x.indexrelid = s.indexrelid;
