-- Admin console and platform-wide analytics: the newest orders across all restaurants.
-- pg_ops: step=index_migrations
-- pg_ops: transaction=off

create index concurrently if not exists orders_created_at_idx
  on public.orders (created_at desc);
