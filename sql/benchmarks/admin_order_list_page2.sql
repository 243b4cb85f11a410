-- Admin console: the newest orders across the platform, second page (PostgREST's offset=50&limit=50).
-- pg_ops: role=authenticated
-- pg_ops: expect_index=orders_created_at_idx
-- pg_ops: target_ms=10

select p.id as sub from public.profiles p where p.role = 'admin' and $1::text is not null;

select id, customer_id, restaurant_id, driver_id, status, total_amount, created_at
from public.orders
order by created_at desc
limit 50 offset 50;
