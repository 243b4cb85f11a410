-- Catalog search: GIN over the stored documents of available products. It finds the matches for any
-- word; where the rum extension is missing (016 is then skipped) search_products ranks with ts_rank over
-- them.
-- pg_ops: step=rpc_functions
-- pg_ops: transaction=off

create index concurrently if not exists product_search_document_idx
  on private.product_search using gin (document) where available;
