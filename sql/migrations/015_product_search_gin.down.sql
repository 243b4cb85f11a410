-- Undoes 015_product_search_gin.sql: drops its index without blocking writes (one index per statement, outside a transaction).
-- pg_ops: transaction=off

drop index concurrently if exists private.product_search_document_idx;
