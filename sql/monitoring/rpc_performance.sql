-- The application's functions (needs track_functions = 'all' or 'pl'): calls and time, with a verdict.
-- pg_ops: step=monitoring_schema

-- Dropped and recreated in one transaction: CREATE OR REPLACE cannot change a column's type.
drop view if exists monitoring.rpc_performance;
create view monitoring.rpc_performance as
select f.schemaname as schema, f.funcname as function_name, f.calls,
       round(f.total_time::numeric, 3) as total_ms, round(f.self_time::numeric, 3) as self_ms,
       round((f.total_time / nullif(f.calls, 0))::numeric, 3) as mean_ms,
       case when f.total_time / nullif(f.calls, 0) < 50 then 'EXCELLENT'
            when f.total_time / nullif(f.calls, 0) < 100 then 'GOOD'
            when f.total_time / nullif(f.calls, 0) <= 200 then 'ACCEPTABLE'
            else 'SLOW' end as verdict
from pg_stat_user_functions f;
