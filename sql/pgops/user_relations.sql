-- How many relations a database holds outside the system schemas: a restore goes only into an empty one.
select count(*) as n
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\_toast%';
