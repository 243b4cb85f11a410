-- Estimated bloat of tables: the pages a table has against the pages its live rows need, from ANALYZE's row
-- count and average column widths (pg_stats), at the table's fillfactor. An estimate in the spirit of the
-- well-known ones: wrong without fresh statistics, blind to TOAST and to alignment inside a row.
with widths as (
  select c.oid, sum((1 - coalesce(s.null_frac, 0)) * coalesce(s.avg_width, 32)) as data_width,
         bool_or(not a.attnotnull) as has_nullable, count(*) as columns
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
  left join pg_catalog.pg_stats s on s.schemaname = n.nspname and s.tablename = c.relname and s.attname = a.attname
  where c.relkind = 'r' and c.reltuples >= 0 and not (n.nspname = any(%(skipped)s))
  group by c.oid
), need as (
  select c.oid, c.relpages::bigint as pages, current_setting('block_size')::int as block_size,
         -- a heap tuple: 23-byte header (and its null bitmap) padded to 8, its data padded to 8, a line pointer
         greatest(floor((current_setting('block_size')::int - 24)
                        * coalesce((select substring(o from 'fillfactor=(\d+)')::int
                                    from pg_catalog.unnest(c.reloptions) o where o like 'fillfactor=%%'), 100) / 100.0
                        / (ceil((23 + case when w.has_nullable then ceil(w.columns / 8.0) else 0 end) / 8.0) * 8
                           + ceil(w.data_width / 8.0) * 8 + 4)), 1) as rows_per_page,
         c.reltuples
  from widths w
  join pg_catalog.pg_class c on c.oid = w.oid
)
select n.nspname as schema, c.relname as table_name, d.pages * d.block_size as bytes,
       greatest(d.pages - ceil(d.reltuples / d.rows_per_page), 0)::bigint * d.block_size as bloat_bytes
from need d
join pg_catalog.pg_class c on c.oid = d.oid
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
order by 4 desc, 1, 2;
