-- Per statement, what it did on the report's day (`today`) and on the day before, summed over each day's
-- captures. A capture counts what the statement did since the capture before it: the difference of its
-- cumulative counters, or the counters themselves when they restarted (pg_stat_statements_reset(), a server
-- crash: stats_reset changed, or calls went down) or when the statement is new since that capture. The
-- first capture in the history has nothing before it and yields nothing.
with captures as (
  select taken_at, stats_reset,
         lag(taken_at) over (order by taken_at) as prev_at,
         lag(stats_reset) over (order by taken_at) as prev_reset
  from (select distinct taken_at, stats_reset from pgops.statement_captures
        where database = %(database)s and taken_at < %(end)s) c
),
deltas as (
  select s.taken_at, s.queryid, s.userid, s.username, s.query,
         case when restarted or p.calls is null then s.calls else s.calls - p.calls end as calls,
         case when restarted or p.calls is null then s.total_exec_ms else s.total_exec_ms - p.total_exec_ms end
           as total_exec_ms,
         case when restarted or p.calls is null then s.rows else s.rows - p.rows end as rows
  from pgops.statement_captures s
  join (select *, stats_reset is distinct from prev_reset as reset_between from captures) c using (taken_at)
  left join pgops.statement_captures p
    on p.database = s.database and p.taken_at = c.prev_at and p.queryid = s.queryid and p.userid = s.userid
  cross join lateral (select c.reset_between or (p.calls is not null and s.calls < p.calls) as restarted) r
  where s.database = %(database)s and c.prev_at is not null and s.taken_at >= %(start)s and s.taken_at < %(end)s
)
select taken_at >= %(day_start)s as today, queryid, userid, max(username) as username, min(query) as query,
       sum(calls) as calls, sum(total_exec_ms) as total_exec_ms, sum(rows) as rows
from deltas
group by 1, 2, 3
