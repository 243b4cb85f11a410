-- Foreign keys whose columns lead no index: deleting or updating a referenced row scans the whole table.
-- pg_ops: step=monitoring_schema

-- Dropped and recreated in one transaction: CREATE OR REPLACE cannot change a column's type.
drop view if exists monitoring.unindexed_foreign_keys;
create view monitoring.unindexed_foreign_keys as
select n.nspname as schema, t.relname as table_name, c.conname as constraint_name,
       (select string_agg(a.attname, ', ' order by k.ord) from unnest(c.conkey) with ordinality k(attnum, ord)
        join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum) as columns,
       c.confrelid::regclass::text as references_table
from pg_constraint c
join pg_class t on t.oid = c.conrelid
join pg_namespace n on n.oid = t.relnamespace
where c.contype = 'f'
  and n.nspname not in ('pg_catalog', 'information_schema')
  and not exists (select 1 from pg_index i
                  where i.indrelid = c.conrelid
                    and (i.indkey::int2[])[0:array_length(c.conkey, 1) - 1] @> c.conkey
                    and (i.indkey::int2[])[0:array_length(c.conkey, 1) - 1] <@ c.conkey);
