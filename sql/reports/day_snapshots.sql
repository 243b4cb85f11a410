-- The snapshot history of one database over one UTC day, tick by tick: what the daily report reads. The
-- first and last ticks whole (cache counters, sizes, tables and indexes at each end of the day); the others
-- only with what the report follows through the day (connections, size, invalid indexes), which keeps a
-- day of 2,880 ticks a few megabytes instead of tens.
select taken_at,
       case when taken_at = min(taken_at) over () or taken_at = max(taken_at) over () then data
            else jsonb_build_object('connections', data -> 'connections', 'database_size', data -> 'database_size',
                                    'invalid_indexes', data -> 'invalid_indexes') end as data
from pgops.monitoring_snapshots
where database = %(database)s and taken_at >= %(start)s and taken_at < %(end)s
order by taken_at
