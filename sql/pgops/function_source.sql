-- The SQL and PL/pgSQL functions of one schema and name, for the index advisor to follow a call into:
-- the source, the input arguments' names and types, and the role the body's statements run as.
select p.oid, n.nspname as schema, p.proname as name, l.lanname as language, p.prosrc as source,
       case when l.lanname = 'plpgsql' then pg_catalog.pg_get_functiondef(p.oid) end as definition,
       p.pronargs as nargs, p.pronargdefaults as defaults, p.prosecdef as definer,
       pg_catalog.pg_get_userbyid(p.proowner) as owner,
       array(select coalesce(a.name, '') from unnest(p.proargnames, p.proargmodes) with ordinality a(name, mode, i)
             where coalesce(a.mode, 'i') in ('i', 'b', 'v') order by a.i) as arg_names,
       array(select pg_catalog.format_type(t.type, null) from unnest(p.proargtypes::oid[]) with ordinality t(type, i)
             order by t.i) as arg_types
from pg_catalog.pg_proc p
join pg_catalog.pg_namespace n on n.oid = p.pronamespace
join pg_catalog.pg_language l on l.oid = p.prolang
where n.nspname = %(schema)s and p.proname = %(name)s and l.lanname in ('sql', 'plpgsql') and p.prokind = 'f'
order by p.oid;
