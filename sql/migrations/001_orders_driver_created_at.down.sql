-- Undoes 001_orders_driver_created_at.sql: drops its index without blocking writes (one index per statement, outside a transaction).
-- pg_ops: transaction=off

drop index concurrently if exists public.orders_driver_id_created_at_idx;
