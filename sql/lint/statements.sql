-- What the application sends: this database's statements in pg_stat_statements (its schema is filled in
-- by pg_ops), run by roles that row-level security applies to, busiest first.
select s.query, r.rolname as role, s.calls
from {pgss} s
join pg_catalog.pg_roles r on r.oid = s.userid
where s.dbid = (select oid from pg_catalog.pg_database where datname = pg_catalog.current_database())
  and not r.rolsuper and not r.rolbypassrls
order by s.total_exec_time desc
limit %(limit)s;
