-- The application's writes as pg_stat_statements counts them (its schema filled in by pg_ops): INSERT,
-- UPDATE and DELETE statements of this database, with their cumulative calls and time.
select s.queryid, s.query, s.calls, s.total_exec_time
from {pgss} s
where s.dbid = (select oid from pg_catalog.pg_database where datname = pg_catalog.current_database())
  and s.query ~* '^\s*(insert|update|delete)\s';
