-- Foreign key order_items.product_id: deleting or repricing a product walks its items.
-- pg_ops: step=index_migrations
-- pg_ops: transaction=off

create index concurrently if not exists order_items_product_id_idx
  on public.order_items (product_id);
