-- Undoes 007_products_search.sql: drops its index without blocking writes (one index per statement, outside a transaction).
-- pg_ops: transaction=off

drop index concurrently if exists public.products_search_idx;
