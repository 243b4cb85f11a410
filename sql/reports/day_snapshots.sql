-- The snapshot history of one database over one UTC day, tick by tick: what the daily report reads
-- (connections, cache, sizes, tables and indexes as the monitoring views showed them at each tick).
select taken_at, data
from pgops.monitoring_snapshots
where database = %(database)s and taken_at >= %(start)s and taken_at < %(end)s
order by taken_at
