-- Functions in the application's schemas, with their security mode and search_path setting.
-- A function without a fixed search_path resolves names through the caller's path: a hijack risk for
-- SECURITY DEFINER functions, and a plan-cache surprise for the rest.
select n.nspname as schema, p.proname as name, pg_get_function_identity_arguments(p.oid) as arguments,
       p.prosecdef as security_definer,
       case p.provolatile when 'i' then 'immutable' when 's' then 'stable' else 'volatile' end as volatility,
       (select c from unnest(p.proconfig) c where starts_with(c, 'search_path=')) as search_path
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
where n.nspname = any(%(schemas)s)
  and p.prokind <> 'p'  -- procedures that COMMIT may not SET search_path; pg_ops qualifies their names
  and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
order by 1, 2;
