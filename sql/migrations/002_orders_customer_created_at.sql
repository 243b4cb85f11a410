-- Customer app: a customer's order history, newest first; also the orders.customer_id foreign key.
-- pg_ops: step=index_migrations
-- pg_ops: transaction=off

create index concurrently if not exists orders_customer_id_created_at_idx
  on public.orders (customer_id, created_at desc);
