-- Undoes 013_product_search.sql: the trigger first (dropping it waits for the product writes in flight),
-- then its function, the backfill procedure, the documents and the document function.
-- pg_ops: transaction=on

drop trigger if exists products_search_sync on public.products;
drop function if exists private.product_search_sync();
drop procedure if exists private.product_search_backfill(integer);
drop table if exists private.product_search;
drop function if exists private.product_document(text, text);
