-- Each suite query's p95 from the last validation of each day in [start, end): the report's 30-day trend.
select distinct on (day, query) (measured_at at time zone 'UTC')::date as day, query, p95_ms
from pgops.benchmark_runs
where phase = 'validation' and measured_at >= %(start)s and measured_at < %(end)s and p95_ms is not null
order by day, query, measured_at desc
