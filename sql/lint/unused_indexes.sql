-- Indexes no query has scanned since the statistics began (days_of_statistics ago: the last reset, or the
-- server's start when the statistics were never reset). Unique and constraint indexes do work without scans;
-- an index led by a foreign key's columns is what deleting a referenced row will scan (dropping it is the
-- unindexed_foreign_key finding).
select n.nspname as schema, t.relname as table_name, i.relname as index_name,
       pg_catalog.pg_relation_size(i.oid) as bytes,
       extract(epoch from now() - coalesce(d.stats_reset, pg_catalog.pg_postmaster_start_time())) / 86400
         as days_of_statistics
from pg_catalog.pg_stat_user_indexes s
join pg_catalog.pg_index x on x.indexrelid = s.indexrelid
join pg_catalog.pg_class i on i.oid = s.indexrelid
join pg_catalog.pg_class t on t.oid = s.relid
join pg_catalog.pg_namespace n on n.oid = t.relnamespace
cross join pg_catalog.pg_stat_database d
where d.datname = pg_catalog.current_database()
  and s.idx_scan = 0 and not x.indisunique and not x.indisprimary and x.indisvalid
  and not exists (select 1 from pg_catalog.pg_constraint k where k.conindid = x.indexrelid)
  and not exists (select 1 from pg_catalog.pg_constraint f
                  where f.contype = 'f' and f.conrelid = x.indrelid
                    and (x.indkey::int2[])[0:pg_catalog.array_length(f.conkey, 1) - 1] @> f.conkey
                    and (x.indkey::int2[])[0:pg_catalog.array_length(f.conkey, 1) - 1] <@ f.conkey)
  and not (n.nspname = any(%(skipped)s))
order by 1, 2, 3;
