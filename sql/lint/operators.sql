-- For each operator name in the database: true when no operator of that name is LEAKPROOF. Under row-level security the
-- planner may use such a predicate as an index condition only after the policy's quals, so it filters row by
-- row (PostgreSQL's security_level rule); a name with any leakproof variant is not reported.
select o.oprname as name, bool_and(not f.proleakproof) as never_leakproof
from pg_catalog.pg_operator o
join pg_catalog.pg_proc f on f.oid = o.oprcode
group by o.oprname;
