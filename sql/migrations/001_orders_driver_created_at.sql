-- Driver app: a driver's active and recent orders, newest first (orders by driver over time).
-- pg_ops: step=index_migrations
-- pg_ops: transaction=off

create index concurrently if not exists orders_driver_id_created_at_idx
  on public.orders (driver_id, created_at desc);
