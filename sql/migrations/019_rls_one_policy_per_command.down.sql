-- Undoes 019_rls_one_policy_per_command.sql: the owners' FOR ALL write policies as 009 created them.
-- pg_ops recorded the policies of these tables before 019 ran and compares them before the commit.
-- pg_ops: transaction=on

lock table public.products, public.restaurants in access exclusive mode;

drop policy if exists restaurants_insert_owner on public.restaurants;
drop policy if exists restaurants_update_owner on public.restaurants;
drop policy if exists restaurants_delete_owner on public.restaurants;
drop policy if exists restaurants_write_owner on public.restaurants;
create policy restaurants_write_owner on public.restaurants for all to authenticated
  using (owner_id = (select auth.uid()) or (select private.is_admin()))
  with check (owner_id = (select auth.uid()) or (select private.is_admin()));

drop policy if exists products_insert_owner on public.products;
drop policy if exists products_update_owner on public.products;
drop policy if exists products_delete_owner on public.products;
drop policy if exists products_write_owner on public.products;
create policy products_write_owner on public.products for all to authenticated
  using ((select private.is_admin()) or restaurant_id in (select private.my_restaurant_ids()))
  with check ((select private.is_admin()) or restaurant_id in (select private.my_restaurant_ids()));
