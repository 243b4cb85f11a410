-- A function's definition and who may execute it, by its signature ('schema.name(argtypes)'); no row if
-- absent. acl is null for the default privileges (PUBLIC may execute), else the grantees ('PUBLIC' for all).
select pg_catalog.pg_get_functiondef(p.oid) as definition,
       case when p.proacl is null then null
            else array(select coalesce(r.rolname, 'PUBLIC')
                       from pg_catalog.aclexplode(p.proacl) a
                       left join pg_catalog.pg_roles r on r.oid = a.grantee
                       where a.privilege_type = 'EXECUTE' and a.grantee <> p.proowner
                       order by 1) end as acl
from pg_catalog.pg_proc p
where p.oid = pg_catalog.to_regprocedure(%(signature)s);
