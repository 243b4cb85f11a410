-- Whether search_products ranks with the RUM index: the rum extension is installed in the extensions
-- schema (where 016 puts it, and where search_products names its operator) and its index is valid
-- (a concurrent build that failed leaves it INVALID, and the planner would then sort every match).
-- The file name sorts before search_products.sql, so this exists before the function that calls it.
-- pg_ops: step=rpc_functions

create or replace function private.search_ranked_by_rum() returns boolean
language plpgsql stable
set search_path = ''
as $$
begin
  return exists (select 1 from pg_catalog.pg_extension e join pg_catalog.pg_namespace n on n.oid = e.extnamespace
                 where e.extname = 'rum' and n.nspname = 'extensions')
     and exists (select 1 from pg_catalog.pg_index i
                 where i.indexrelid = pg_catalog.to_regclass('private.product_search_rank_idx') and i.indisvalid);
end
$$;

revoke all on function private.search_ranked_by_rum() from public;
grant execute on function private.search_ranked_by_rum() to anon, authenticated;
