-- Customer app: search for a product by its full name (Georgian and English), through the search RPC.
-- pg_ops: role=authenticated
-- pg_ops: expect_index=product_search_rank_idx|product_search_document_idx
-- pg_ops: target_ms=10

select (select customer_id from public.orders limit 1) as sub, p.name
from public.products p
order by md5(p.id::text || $1) limit 50;

select id, restaurant_id, name, price, rank from public.search_products($1);
