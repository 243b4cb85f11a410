-- Foreign key order_items.order_id: order pages join items by order, and deleting one order scanned every item.
-- pg_ops: step=index_migrations
-- pg_ops: transaction=off

create index concurrently if not exists order_items_order_id_idx
  on public.order_items (order_id);
