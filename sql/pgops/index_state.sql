-- The state of one index by schema and name: absent (no row), valid, or invalid; and whether a
-- CREATE INDEX is working on it right now (an INVALID index that is still being built is not dead).
select c.oid::bigint as oid,
       i.indisvalid and i.indisready as usable,
       i.indisvalid, i.indisready,
       pg_get_indexdef(c.oid) as definition,
       pg_relation_size(c.oid) as size_bytes,
       p.pid as building_pid,
       p.phase as building_phase
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
join pg_index i on i.indexrelid = c.oid
left join pg_stat_progress_create_index p on p.index_relid = c.oid
where n.nspname = %(schema)s and c.relname = %(name)s;
