-- Transactions open longer than the threshold: CREATE INDEX CONCURRENTLY waits for every one of them
-- (and a running pg_dump is one). %(threshold_s)s is bound by pg_ops.
select pid, usename, application_name, state,
       extract(epoch from now() - xact_start)::int as open_s,
       left(regexp_replace(query, '\s+', ' ', 'g'), 80) as query
from pg_stat_activity
where xact_start is not null
  and pid <> pg_backend_pid()
  and backend_type = 'client backend'
  and now() - xact_start > make_interval(secs => %(threshold_s)s)
order by xact_start;
