-- Functions a policy or a lint rule may name: everything outside pg_catalog and information_schema, plus the
-- pg_catalog functions the policies call (current_setting, random...). plpgsql bodies come whole
-- (pg_get_functiondef) for pglast's plpgsql parser.
select n.nspname as schema, p.proname as name, p.prokind = 'p' as procedure, p.pronargs as nargs,
       pg_catalog.pg_get_function_identity_arguments(p.oid) as arguments,
       l.lanname as language, p.provolatile as volatility, p.proleakproof as leakproof,
       p.prosecdef as security_definer,
       exists (select 1 from pg_catalog.unnest(coalesce(p.proconfig, '{}')) setting
               where setting like 'search\_path=%%') as fixed_search_path,
       p.prosrc as source,
       case when l.lanname = 'plpgsql' then pg_catalog.pg_get_functiondef(p.oid) end as definition,
       case when pg_catalog.to_regrole('anon') is not null
            then pg_catalog.has_function_privilege('anon', p.oid, 'execute') end as anon_executes,
       exists (select 1 from pg_catalog.pg_depend d
               where d.classid = 'pg_catalog.pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
         as from_extension,
       pg_catalog.obj_description(p.oid, 'pg_proc') as comment
from pg_catalog.pg_proc p
join pg_catalog.pg_namespace n on n.oid = p.pronamespace
join pg_catalog.pg_language l on l.oid = p.prolang
where p.prokind in ('f', 'p')
  and (n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
       or (n.nspname = 'pg_catalog' and p.proname = any(%(catalog_names)s)))
order by 1, 2, 3;
