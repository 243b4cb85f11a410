-- The sessions that block a backend (by pid): who they are and how long their transaction has been open.
select pid, usename, coalesce(application_name, '') as app, state,
  coalesce(extract(epoch from now() - xact_start)::int, 0) as xact_s
  from pg_stat_activity where pid = any(pg_blocking_pids(%s))
