-- Restaurant catalog: available products of a restaurant ordered by category and name; also the products.restaurant_id foreign key.
-- pg_ops: step=index_migrations
-- pg_ops: transaction=off

create index concurrently if not exists products_restaurant_catalog_idx
  on public.products (restaurant_id, is_available, category, name);
