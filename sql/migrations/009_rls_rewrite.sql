-- The row-level-security rewrite, following Supabase's guidance; who may see and write what is unchanged.
--  * (select auth.uid()) instead of auth.uid(): an InitPlan evaluated once per query, not once per row.
--  * TO authenticated (or anon, authenticated where anon had access): policies no longer run for
--    roles they can never admit.
--  * Role lookups in security-definer helpers with an empty search_path, instead of a per-row
--    EXISTS on profiles under the caller's own policies.
--  * IN (subquery) instead of row-correlated EXISTS.
-- One transaction: policies are dropped and recreated together, so no request sees a table without them.
-- pg_ops: step=rls_policies
-- pg_ops: transaction=on

create schema if not exists private;
grant usage on schema private to anon, authenticated;

create or replace function private.is_admin() returns boolean
language sql stable security definer set search_path = ''
as $$ select exists (select 1 from public.profiles where id = (select auth.uid()) and role = 'admin') $$;

create or replace function private.my_restaurant_ids() returns setof uuid
language sql stable security definer set search_path = ''
as $$ select id from public.restaurants where owner_id = (select auth.uid()) $$;

revoke all on function private.is_admin(), private.my_restaurant_ids() from public;
grant execute on function private.is_admin(), private.my_restaurant_ids() to anon, authenticated;

-- All five tables at once, before any policy changes: taken one by one, an application insert into
-- orders (which then locks profiles and restaurants for its foreign-key checks) deadlocks with us.
-- pg_ops keeps lock_timeout below deadlock_timeout, so if anything still waits, we give way and retry.
lock table public.order_items, public.orders, public.products, public.restaurants, public.profiles
  in access exclusive mode;

-- profiles
drop policy if exists profiles_select_own on public.profiles;
drop policy if exists profiles_update_own on public.profiles;
create policy profiles_select_own on public.profiles for select to authenticated
  using (id = (select auth.uid()));
create policy profiles_update_own on public.profiles for update to authenticated
  using (id = (select auth.uid()));

-- restaurants
drop policy if exists restaurants_select_all on public.restaurants;
drop policy if exists restaurants_write_owner on public.restaurants;
create policy restaurants_select_all on public.restaurants for select to anon, authenticated
  using (true);
create policy restaurants_write_owner on public.restaurants for all to authenticated
  using (owner_id = (select auth.uid()) or (select private.is_admin()))
  with check (owner_id = (select auth.uid()) or (select private.is_admin()));

-- products
drop policy if exists products_select on public.products;
drop policy if exists products_write_owner on public.products;
create policy products_select on public.products for select to anon, authenticated
  using (is_available
         or (select private.is_admin())
         or restaurant_id in (select private.my_restaurant_ids()));
create policy products_write_owner on public.products for all to authenticated
  using ((select private.is_admin()) or restaurant_id in (select private.my_restaurant_ids()))
  with check ((select private.is_admin()) or restaurant_id in (select private.my_restaurant_ids()));

-- orders
drop policy if exists orders_select on public.orders;
drop policy if exists orders_insert_customer on public.orders;
drop policy if exists orders_update_staff on public.orders;
drop policy if exists orders_delete_admin on public.orders;
create policy orders_select on public.orders for select to authenticated
  using ((select auth.uid()) = customer_id
         or (select auth.uid()) = driver_id
         or (select private.is_admin())
         or restaurant_id in (select private.my_restaurant_ids()));
create policy orders_insert_customer on public.orders for insert to authenticated
  with check (customer_id = (select auth.uid()));
create policy orders_update_staff on public.orders for update to authenticated
  using ((select auth.uid()) = driver_id
         or restaurant_id in (select private.my_restaurant_ids())
         or (select private.is_admin()));
create policy orders_delete_admin on public.orders for delete to authenticated
  using ((select private.is_admin()));

-- order_items: visible when the order is (the orders policy applies inside the subquery)
drop policy if exists order_items_select on public.order_items;
drop policy if exists order_items_insert_customer on public.order_items;
create policy order_items_select on public.order_items for select to authenticated
  using (order_id in (select id from public.orders));
create policy order_items_insert_customer on public.order_items for insert to authenticated
  with check (order_id in (select id from public.orders where customer_id = (select auth.uid())));
