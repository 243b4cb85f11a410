-- pg_ops demo platform, part 2: row-level security in its slow original form.
-- Bare auth.uid() calls (evaluated per row), per-row role lookups in profiles, row-correlated EXISTS,
-- and no TO clause (every policy also runs for anon). The rollout rewrites these without changing
-- who can see or write what.

alter table public.profiles enable row level security;
alter table public.restaurants enable row level security;
alter table public.products enable row level security;
alter table public.orders enable row level security;
alter table public.order_items enable row level security;

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
