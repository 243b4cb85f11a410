-- Undoes 009_rls_rewrite.sql: the policies exactly as they were before it (the demo platform's original
-- ones), then its helper functions, then the private schema if nothing else lives in it.
-- pg_ops recorded the policies of these tables before 009 ran; after these statements and before the
-- commit it compares them with that record and rolls the whole file back if anything differs (a
-- database whose original policies were not these is told so, and keeps the rewritten ones).
-- One transaction, all five tables locked first, as in 009.
-- pg_ops: transaction=on

lock table public.order_items, public.orders, public.products, public.restaurants, public.profiles
  in access exclusive mode;

drop policy if exists profiles_select_own on public.profiles;
drop policy if exists profiles_update_own on public.profiles;
drop policy if exists restaurants_select_all on public.restaurants;
drop policy if exists restaurants_write_owner on public.restaurants;
drop policy if exists products_select on public.products;
drop policy if exists products_write_owner on public.products;
drop policy if exists orders_select on public.orders;
drop policy if exists orders_insert_customer on public.orders;
drop policy if exists orders_update_staff on public.orders;
drop policy if exists orders_delete_admin on public.orders;
drop policy if exists order_items_select on public.order_items;
drop policy if exists order_items_insert_customer on public.order_items;

-- profiles: everyone sees and edits their own profile.
create policy profiles_select_own on public.profiles for select using (id = auth.uid());
create policy profiles_update_own on public.profiles for update using (id = auth.uid());

-- restaurants: the list is public; owners and admins change them.
create policy restaurants_select_all on public.restaurants for select using (true);
create policy restaurants_write_owner on public.restaurants for all
  using (owner_id = auth.uid()
         or exists (select 1 from public.profiles p where p.id = auth.uid() and p.role = 'admin'))
  with check (owner_id = auth.uid()
         or exists (select 1 from public.profiles p where p.id = auth.uid() and p.role = 'admin'));

-- products: available ones are public; the owner and admins see and change all of a restaurant's.
create policy products_select on public.products for select using (
  is_available
  or exists (select 1 from public.restaurants r where r.id = products.restaurant_id and r.owner_id = auth.uid())
  or exists (select 1 from public.profiles p where p.id = auth.uid() and p.role = 'admin'));
create policy products_write_owner on public.products for all
  using (exists (select 1 from public.restaurants r where r.id = products.restaurant_id and r.owner_id = auth.uid())
         or exists (select 1 from public.profiles p where p.id = auth.uid() and p.role = 'admin'))
  with check (exists (select 1 from public.restaurants r where r.id = products.restaurant_id and r.owner_id = auth.uid())
         or exists (select 1 from public.profiles p where p.id = auth.uid() and p.role = 'admin'));

-- orders: customers see their own, drivers their assigned ones, owners their restaurant's, admins all.
create policy orders_select on public.orders for select using (
  customer_id = auth.uid()
  or driver_id = auth.uid()
  or exists (select 1 from public.profiles p where p.id = auth.uid() and p.role = 'admin')
  or restaurant_id in (select r.id from public.restaurants r where r.owner_id = auth.uid()));
create policy orders_insert_customer on public.orders for insert with check (customer_id = auth.uid());
create policy orders_update_staff on public.orders for update using (
  driver_id = auth.uid()
  or restaurant_id in (select r.id from public.restaurants r where r.owner_id = auth.uid())
  or exists (select 1 from public.profiles p where p.id = auth.uid() and p.role = 'admin'));
create policy orders_delete_admin on public.orders for delete using (
  exists (select 1 from public.profiles p where p.id = auth.uid() and p.role = 'admin'));

-- order_items: visible when the order is (the orders policy applies inside the subquery).
create policy order_items_select on public.order_items for select using (
  exists (select 1 from public.orders o where o.id = order_items.order_id));
create policy order_items_insert_customer on public.order_items for insert with check (
  exists (select 1 from public.orders o where o.id = order_items.order_id and o.customer_id = auth.uid()));

drop function if exists private.is_admin();
drop function if exists private.my_restaurant_ids();

-- The schema may hold what others put there (Supabase projects often have one): dropped only when empty.
do $$
begin
  if to_regnamespace('private') is not null
     and not exists (select 1 from pg_catalog.pg_depend
                     where refclassid = 'pg_catalog.pg_namespace'::regclass
                       and refobjid = to_regnamespace('private') and deptype = 'n') then
    drop schema private;
  end if;
end
$$;
