-- Estimated bloat of btree indexes (plain columns only): the pages an index has against the pages its
-- entries need, from the index's row count and its columns' average widths (pg_stats), at the index's
-- fillfactor (90 unless set). An index entry: an 8-byte header, its data padded to 8, a line pointer; a leaf
-- page keeps 24 bytes of header and 16 of btree data; one meta page.
with widths as (
  select x.indexrelid, sum((1 - coalesce(s.null_frac, 0)) * coalesce(s.avg_width, 32)) as data_width
  from pg_catalog.pg_index x
  join pg_catalog.pg_class t on t.oid = x.indrelid
  join pg_catalog.pg_namespace n on n.oid = t.relnamespace
  join pg_catalog.pg_class i on i.oid = x.indexrelid
  join pg_catalog.pg_am am on am.oid = i.relam and am.amname = 'btree'
  join lateral pg_catalog.unnest(x.indkey::int2[]) k(attnum) on true
  join pg_catalog.pg_attribute a on a.attrelid = x.indrelid and a.attnum = k.attnum
  left join pg_catalog.pg_stats s on s.schemaname = n.nspname and s.tablename = t.relname and s.attname = a.attname
  where x.indexprs is null and i.reltuples >= 0 and not (n.nspname = any(%(skipped)s))
  group by x.indexrelid
)
select n.nspname as schema, t.relname as table_name, i.relname as index_name,
       i.relpages::bigint * current_setting('block_size')::int as bytes,
       greatest(i.relpages - 1 - ceil(i.reltuples / greatest(floor(
         (current_setting('block_size')::int - 40)
         * coalesce((select substring(o from 'fillfactor=(\d+)')::int
                     from pg_catalog.unnest(i.reloptions) o where o like 'fillfactor=%%'), 90) / 100.0
         / (8 + ceil(w.data_width / 8.0) * 8 + 4)), 1)), 0)::bigint * current_setting('block_size')::int
         as bloat_bytes
from widths w
join pg_catalog.pg_index x on x.indexrelid = w.indexrelid
join pg_catalog.pg_class i on i.oid = x.indexrelid
join pg_catalog.pg_class t on t.oid = x.indrelid
join pg_catalog.pg_namespace n on n.oid = t.relnamespace
order by 5 desc, 1, 2, 3;
