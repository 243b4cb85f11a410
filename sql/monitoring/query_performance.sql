-- The 100 statements with the most total execution time in this database, with their cache hit ratio.
-- One statement run by two roles is two entries (pg_stat_statements keeps them per user): `username` tells them apart.
-- pg_ops: step=monitoring_schema

-- Dropped and recreated in one transaction: CREATE OR REPLACE cannot change a column's type.
drop view if exists monitoring.query_performance;
create view monitoring.query_performance as
-- The text is tidied after the top 100 are picked: done before, it costs 50 ms at 5,000 statements.
select s.queryid::text as queryid,
       coalesce(r.rolname, s.userid::text) as username,
       left(regexp_replace(s.query, '\s+', ' ', 'g'), 200) as query,
       s.calls,
       round(s.total_exec_time::numeric, 3) as total_exec_ms,
       round(s.mean_exec_time::numeric, 3) as mean_exec_ms,
       round(s.min_exec_time::numeric, 3) as min_exec_ms,
       round(s.max_exec_time::numeric, 3) as max_exec_ms,
       round(s.stddev_exec_time::numeric, 3) as stddev_exec_ms,
       s.rows,
       round(100.0 * s.shared_blks_hit / nullif(s.shared_blks_hit + s.shared_blks_read, 0), 2) as cache_hit_ratio
from (select * from pg_stat_statements
      where dbid = (select oid from pg_database where datname = current_database())
      order by total_exec_time desc
      limit 100) s
left join pg_roles r on r.oid = s.userid
order by s.total_exec_time desc;
