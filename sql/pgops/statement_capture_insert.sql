-- One capture of this database's statements ({schema} is where pg_stat_statements is installed). Entries
-- that differ only in `toplevel` are one statement here.
insert into pgops.statement_captures
  (database, taken_at, stats_reset, queryid, userid, username, query, calls, total_exec_ms, rows)
select %(database)s, %(taken_at)s, (select stats_reset from {schema}.pg_stat_statements_info),
       s.queryid, s.userid, coalesce(pg_get_userbyid(s.userid)::text, s.userid::text), left(min(s.query), 1000), sum(s.calls), sum(s.total_exec_time), sum(s.rows)
from {schema}.pg_stat_statements s
where s.dbid = (select oid from pg_database where datname = current_database()) and s.queryid is not null
group by s.queryid, s.userid
on conflict do nothing
