-- Fill the search documents (013) online: 5,000 products per transaction, each batch's rows locked
-- FOR KEY SHARE for a few tens of milliseconds (updates go on; a delete of one of them waits).
-- Idempotent: products that already have a document are left as the trigger wrote them.
-- pg_ops: step=rpc_functions
-- pg_ops: transaction=off

call private.product_search_backfill();

-- Statistics for the planner, and the visibility map for the indexes that follow.
vacuum (analyze) private.product_search;
