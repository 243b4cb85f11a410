-- Tables without a primary key: logical replication (Supabase Realtime among its users) cannot send their
-- UPDATEs and DELETEs, and nothing stops duplicate rows.
select n.nspname as schema, c.relname as table_name, c.reltuples::bigint as estimated_rows
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p') and not c.relispartition
  and not exists (select 1 from pg_catalog.pg_constraint k where k.conrelid = c.oid and k.contype = 'p')
  and not (n.nspname = any(%(skipped)s))
order by 1, 2;
