-- Driver app home screen: the driver's active orders and the last week's, newest first.
-- pg_ops: role=authenticated
-- pg_ops: expect_index=orders_driver_id_created_at_idx
-- pg_ops: target_ms=10

select driver_id as sub, driver_id
from public.orders where driver_id is not null
group by driver_id order by md5(driver_id::text || $1) limit 50;

select id, customer_id, restaurant_id, status, total_amount, delivery_address, created_at, estimated_delivery_at
from public.orders
where driver_id = $1
  and (status in ('preparing', 'ready', 'picked_up') or created_at >= now() - interval '7 days')
order by created_at desc
limit 50;
