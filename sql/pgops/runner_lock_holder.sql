-- Who holds pg_ops's runner lock (an advisory lock on the key given as the parameter).
select a.pid, a.usename, a.application_name, coalesce(host(a.client_addr), 'local') as client,
  extract(epoch from now() - a.backend_start)::int as age_s
  from pg_locks l join pg_stat_activity a on a.pid = l.pid
  where l.locktype = 'advisory' and l.granted
  and ((l.classid::bigint << 32) | l.objid::bigint) = %s
