-- Customer app: search the catalog (Georgian and English), best matches first, through the search RPC.
-- pg_ops: role=authenticated
-- pg_ops: expect_index=products_search_idx
-- pg_ops: target_ms=50

select (select customer_id from public.orders limit 1) as sub, p.name
from public.products p
order by md5(p.id::text || $1) limit 50;

select id, restaurant_id, name, price, rank from public.search_products($1);
