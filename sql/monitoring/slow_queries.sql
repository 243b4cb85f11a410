-- Statements running longer than 1 s right now, with what they wait for.
-- pg_ops: step=monitoring_schema

-- Dropped and recreated in one transaction: CREATE OR REPLACE cannot change a column's type.
drop view if exists monitoring.slow_queries;
create view monitoring.slow_queries as
select a.pid, a.usename, a.application_name, a.state, a.wait_event_type, a.wait_event,
       extract(epoch from now() - a.query_start)::numeric(12, 3) as running_s,
       case when now() - a.query_start > interval '60 seconds' then 'CRITICAL'
            when now() - a.query_start > interval '10 seconds' then 'WARNING'
            else 'SLOW' end as severity,
       left(regexp_replace(a.query, '\s+', ' ', 'g'), 200) as query
from pg_stat_activity a
where a.state = 'active' and a.pid <> pg_backend_pid() and a.backend_type = 'client backend'
  and now() - a.query_start > interval '1 second';
