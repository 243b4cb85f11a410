-- Sessions waiting for a lock: how long each has waited, and the session at the root of its queue
-- (the blocker that is not itself waiting), with that session's state and transaction age. A session
-- idle in a transaction while others queue behind its locks is the case to act on first.
-- pg_ops: step=monitoring_schema

-- Dropped and recreated in one transaction: CREATE OR REPLACE cannot change a column's type.
drop view if exists monitoring.lock_waits;
create view monitoring.lock_waits as
select w.pid, w.usename::text as username, coalesce(w.application_name, '') as application_name,
       round(extract(epoch from now() - l.waitstart)::numeric, 1) as waiting_s,
       b.pid as blocker_pid, b.usename::text as blocker_username,
       coalesce(b.application_name, '') as blocker_application, b.state as blocker_state,
       round(extract(epoch from now() - b.xact_start)::numeric, 1) as blocker_transaction_s,
       left(regexp_replace(coalesce(w.query, ''), '\s+', ' ', 'g'), 200) as query,
       left(regexp_replace(coalesce(b.query, ''), '\s+', ' ', 'g'), 200) as blocker_query
from pg_stat_activity w
cross join lateral (select min(waitstart) as waitstart from pg_locks where pid = w.pid and not granted) l
left join lateral (select s.pid, s.usename, s.application_name, s.state, s.xact_start, s.query
                   from pg_stat_activity s
                   where s.pid = any(pg_blocking_pids(w.pid))
                   order by cardinality(pg_blocking_pids(s.pid)), s.xact_start nulls last
                   limit 1) b on true
where w.wait_event_type = 'Lock' and w.backend_type = 'client backend';
