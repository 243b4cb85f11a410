-- Undoes 016_product_search_rum.sql: drops the RUM index without blocking writes; search_products then
-- ranks with GIN and ts_rank (while it exists; its own rollback comes first). The rum extension and the
-- extensions schema stay: other objects may use them, and they cost nothing unused.
-- pg_ops: transaction=off

drop index concurrently if exists private.product_search_rank_idx;
