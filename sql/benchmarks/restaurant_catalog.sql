-- Customer app: a restaurant's menu, available products by category and name.
-- pg_ops: role=authenticated
-- pg_ops: expect_index=products_restaurant_catalog_idx
-- pg_ops: target_ms=10

select c.customer_id as sub, r.id
from (select id from public.restaurants order by md5(id::text || $1) limit 50) r
cross join lateral (select customer_id from public.orders o where o.restaurant_id = r.id limit 1) c;

select id, name, description, category, price
from public.products
where restaurant_id = $1 and is_available
order by category, name
limit 100;
