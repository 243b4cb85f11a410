-- Customer app: the customer's order history, newest first.
-- pg_ops: role=authenticated
-- pg_ops: expect_index=orders_customer_id_created_at_idx
-- pg_ops: target_ms=10

select customer_id as sub, customer_id
from public.orders
group by customer_id order by md5(customer_id::text || $1) limit 50;

select id, restaurant_id, status, total_amount, created_at, delivered_at
from public.orders
where customer_id = $1
order by created_at desc
limit 20;
