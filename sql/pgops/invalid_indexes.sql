-- Indexes that are not valid and ready, anywhere in the database, and whether a build is still running.
select n.nspname as schema, c.relname as index, t.relname as table,
       i.indisvalid, i.indisready, p.pid as building_pid
from pg_index i
join pg_class c on c.oid = i.indexrelid
join pg_class t on t.oid = i.indrelid
join pg_namespace n on n.oid = c.relnamespace
left join pg_stat_progress_create_index p on p.index_relid = c.oid
where not (i.indisvalid and i.indisready)
order by 1, 2;
