-- Catalog search ranked from the index: a RUM index stores each word's positions, so the best matches
-- come out of the index in rank order and a common word no longer means ranking every match.
-- Applied only on a server that has the rum extension (Debian: postgresql-15-rum; Supabase ships it);
-- otherwise pg_ops skips this file, search_products ranks with GIN and ts_rank, and pg-ops preflight
-- says so. Should rum arrive later, the next pg-ops migrate applies this file.
-- pg_ops: step=rpc_functions
-- pg_ops: transaction=off
-- pg_ops: when_available=rum

create schema if not exists extensions;

create extension if not exists rum schema extensions;

create index concurrently if not exists product_search_rank_idx
  on private.product_search using rum (document) where available;  -- rum_tsvector_ops, the default
