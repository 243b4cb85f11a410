-- Undoes 006_products_catalog.sql: drops its index without blocking writes (one index per statement, outside a transaction).
-- pg_ops: transaction=off

drop index concurrently if exists public.products_restaurant_catalog_idx;
