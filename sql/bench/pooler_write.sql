-- pgbench script (pg-ops bench, the 50-client pooler test): a customer places an order, under row-level
-- security (orders_insert_customer: customer_id = auth.uid()).
\set c random(1, :n_customers)
\set r random(1, :n_restaurants)
begin;
set local role authenticated;
select set_config('request.jwt.claims',
                  json_build_object('sub', pgops_demo.uid(:seed, 'customer', :c), 'role', 'authenticated')::text, true);
insert into public.orders (id, customer_id, restaurant_id, status, subtotal, delivery_fee, total_amount,
                           delivery_address)
values (gen_random_uuid(), pgops_demo.uid(:seed, 'customer', :c), pgops_demo.uid(:seed, 'restaurant', :r), 'pending', 10.00, 2.50, 12.50,
        'bench');
commit;
