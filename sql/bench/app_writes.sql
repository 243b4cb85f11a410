-- pgbench script: the delivery app's steady writes during a rollout (run by pg-ops bench).
-- Each transaction places an order and moves another one along, through the primary key.
\set c random(1, :n_customers)
\set r random(1, :n_restaurants)
\set o random(1, :n_orders)
insert into public.orders (id, customer_id, restaurant_id, status, subtotal, delivery_fee, total_amount,
                           delivery_address)
values (gen_random_uuid(), pgops_demo.uid(:seed, 'customer', :c), pgops_demo.uid(:seed, 'restaurant', :r),
        'pending', 10.00, 2.50, 12.50, 'bench');
update public.orders set status = 'confirmed', updated_at = now() where id = pgops_demo.uid(:seed, 'order', :o);
