-- One permissive policy per role and command on restaurants and products (found by pg-ops lint, rule
-- multiple_permissive_policies, after 009): a FOR ALL policy also applies to SELECT, so every read of these
-- tables evaluated two permissive policies per row, joined by OR. The owners' write policy becomes one
-- policy each for INSERT, UPDATE and DELETE with the same conditions; reads keep their one policy. Who may
-- see and write what is unchanged (the SELECT policies already admitted every row the write policy did).
-- One transaction, both tables locked first, as in 009.
-- pg_ops: step=rls_policies
-- pg_ops: transaction=on

lock table public.products, public.restaurants in access exclusive mode;

drop policy if exists restaurants_write_owner on public.restaurants;
drop policy if exists restaurants_insert_owner on public.restaurants;
drop policy if exists restaurants_update_owner on public.restaurants;
drop policy if exists restaurants_delete_owner on public.restaurants;
create policy restaurants_insert_owner on public.restaurants for insert to authenticated
  with check (owner_id = (select auth.uid()) or (select private.is_admin()));
create policy restaurants_update_owner on public.restaurants for update to authenticated
  using (owner_id = (select auth.uid()) or (select private.is_admin()))
  with check (owner_id = (select auth.uid()) or (select private.is_admin()));
create policy restaurants_delete_owner on public.restaurants for delete to authenticated
  using (owner_id = (select auth.uid()) or (select private.is_admin()));

drop policy if exists products_write_owner on public.products;
drop policy if exists products_insert_owner on public.products;
drop policy if exists products_update_owner on public.products;
drop policy if exists products_delete_owner on public.products;
create policy products_insert_owner on public.products for insert to authenticated
  with check ((select private.is_admin()) or restaurant_id in (select private.my_restaurant_ids()));
create policy products_update_owner on public.products for update to authenticated
  using ((select private.is_admin()) or restaurant_id in (select private.my_restaurant_ids()))
  with check ((select private.is_admin()) or restaurant_id in (select private.my_restaurant_ids()));
create policy products_delete_owner on public.products for delete to authenticated
  using ((select private.is_admin()) or restaurant_id in (select private.my_restaurant_ids()));
