-- What each user tries, for the allow/deny matrix. Every write runs in a savepoint and is rolled back.
-- %(me)s is the user's id. Reads record how many rows, and which (a hash of their ids).

-- name: read_orders
select id from public.orders order by id;
-- name: read_order_items
select id from public.order_items order by id;
-- name: read_products
select id from public.products order by id;
-- name: read_restaurants
select id from public.restaurants order by id;
-- name: read_profiles
select id from public.profiles order by id;
-- name: update_any_order_status
update public.orders set status = status where id in (select id from public.orders limit 50);
-- name: update_my_orders
update public.orders set updated_at = updated_at where customer_id = %(me)s or driver_id = %(me)s;
-- name: delete_orders
delete from public.orders where id in (select id from public.orders order by id limit 3);
-- name: insert_order_for_me
insert into public.orders (id, customer_id, restaurant_id, status, subtotal, delivery_fee, total_amount,
                           delivery_address)
select gen_random_uuid(), %(me)s, id, 'pending', 1, 1, 2, 'x' from public.restaurants order by id limit 1;
-- name: insert_order_for_other
insert into public.orders (id, customer_id, restaurant_id, status, subtotal, delivery_fee, total_amount,
                           delivery_address)
select gen_random_uuid(), p.id, r.id, 'pending', 1, 1, 2, 'x' from public.profiles p, public.restaurants r
where p.id is distinct from %(me)s order by p.id, r.id limit 1;
-- name: update_products
update public.products set price = price where id in (select id from public.products limit 300);
-- name: update_restaurants
update public.restaurants set is_active = is_active;
-- name: update_profiles
update public.profiles set phone = phone;
