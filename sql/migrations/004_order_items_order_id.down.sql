-- Undoes 004_order_items_order_id.sql: drops its index without blocking writes (one index per statement, outside a transaction).
-- pg_ops: transaction=off

drop index concurrently if exists public.order_items_order_id_idx;
