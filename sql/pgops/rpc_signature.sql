-- A function as PostgREST sees it for /rpc/<name>: its input arguments (name, type), whether it returns a set
-- or a row type (else a scalar), and its volatility. Overloads come most arguments first.
select p.oid::regprocedure::text as signature, p.proretset as returns_set,
       t.typtype = 'c' or p.proretset or p.prorettype = 'record'::regtype as returns_rows,
       p.provolatile as volatility,
       coalesce(array(select a.name from unnest(p.proargnames, coalesce(p.proargmodes, array_fill('i'::"char",
                        array[cardinality(p.proargnames)]))) with ordinality a(name, mode, i)
                      where a.mode in ('i', 'b') order by a.i), '{}') as argument_names,
       coalesce(array(select pg_catalog.format_type(t2, null) from unnest(p.proargtypes) t2), '{}') as argument_types,
       p.pronargdefaults as defaults
from pg_catalog.pg_proc p
join pg_catalog.pg_namespace n on n.oid = p.pronamespace
join pg_catalog.pg_type t on t.oid = p.prorettype
where n.nspname = %(schema)s and p.proname = %(name)s
order by p.pronargs desc;
