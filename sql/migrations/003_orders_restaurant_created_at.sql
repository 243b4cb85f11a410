-- Restaurant dashboard and per-restaurant analytics: a restaurant's orders over time.
-- pg_ops: step=index_migrations
-- pg_ops: transaction=off

create index concurrently if not exists orders_restaurant_id_created_at_idx
  on public.orders (restaurant_id, created_at desc);
