-- Every available product matching a search query (private.search_query of the term), ranked as
-- search_products ranks with ts_rank (no RUM index), best first: pg_ops's proof that the function's top
-- results are the true top. The caller turns index scans off, so nothing here comes from an index.
select s.product_id as id, ts_rank(s.document, q.q) as rank
from private.product_search s
join public.products p on p.id = s.product_id
cross join (select %(query)s::tsquery as q) as q
where s.available and p.is_available and s.document @@ q.q
order by rank desc, s.product_id
