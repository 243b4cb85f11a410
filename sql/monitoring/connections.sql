-- Client connections of the whole server against max_connections, with a verdict.
-- pg_ops: step=monitoring_schema

-- Dropped and recreated in one transaction: CREATE OR REPLACE cannot change a column's type.
drop view if exists monitoring.connections;
create view monitoring.connections as
select c.total, c.active, c.idle, c.idle_in_transaction, c.waiting_on_locks, c.longest_idle_in_transaction_s,
       c.max_connections,
       round(100.0 * c.total / c.max_connections, 2) as used_ratio,
       case when c.total > 0.8 * c.max_connections then 'TOO_MANY'
            when c.total < 0.1 * c.max_connections then 'UNDERUTILIZED'
            else 'HEALTHY' end as verdict
from (select count(*) as total,
             count(*) filter (where state = 'active') as active,
             count(*) filter (where state = 'idle') as idle,
             count(*) filter (where state like 'idle in transaction%') as idle_in_transaction,
             count(*) filter (where wait_event_type = 'Lock') as waiting_on_locks,
             coalesce(max(extract(epoch from now() - state_change)::bigint)
                        filter (where state like 'idle in transaction%'), 0) as longest_idle_in_transaction_s,
             current_setting('max_connections')::int as max_connections
      from pg_stat_activity where backend_type = 'client backend') c;
