-- Catalog search for the customer app: available products whose name or description match, best first.
--
-- Matching: every word of p_query appears in the product's name or description; the last word, if no
-- product has it whole, as the start of a word (private.search_query). Ranking: with the rum extension (016), RUM's
-- score of the query in the product's document, read from the index in rank order; without it,
-- ts_rank over every match (GIN finds them). Both weigh a word in the name above a word in the
-- description. Products with equal scores come in the index's order; the GIN path breaks ties by id.
--
-- SECURITY DEFINER: under row-level security PostgreSQL may not use an index for @@ (the operator is
-- not LEAKPROOF), and the documents live in the private schema. The function applies the rule the
-- products policy gives customers itself: only available products. search_path is empty, so every name
-- is qualified. Executable by anon and authenticated, like the catalog it searches.
-- pg_ops: step=rpc_functions

create or replace function public.search_products(p_query text, p_limit integer default 20)
returns table (id uuid, restaurant_id uuid, name text, price numeric, rank real)
language plpgsql stable security definer
set search_path = ''
as $$
declare
  q tsquery := private.search_query(p_query);
  n integer := least(greatest(coalesce(p_limit, 20), 1), 100);
begin
  if pg_catalog.numnode(q) = 0 then
    return;
  end if;
  if private.search_ranked_by_rum() then
    return query
      select p.id, p.restaurant_id, p.name, p.price, extensions.rum_ts_score(s.document, q)
      from private.product_search s
      join public.products p on p.id = s.product_id
      where s.available and s.document operator(pg_catalog.@@) q and p.is_available
      order by s.document operator(extensions.<=>) q
      limit n;
    return;
  end if;
  return query
    select p.id, p.restaurant_id, p.name, p.price, pg_catalog.ts_rank(s.document, q) as rank
    from private.product_search s
    join public.products p on p.id = s.product_id
    where s.available and s.document operator(pg_catalog.@@) q and p.is_available
    order by rank desc, p.id
    limit n;
end
$$;

revoke all on function public.search_products(text, integer) from public;
grant execute on function public.search_products(text, integer) to anon, authenticated;
-- pg-ops lint reports every SECURITY DEFINER function anon can call; this one is public on purpose.
comment on function public.search_products(text, integer) is
  'Catalog search for the customer app (available products only). pg_ops: lint-accept security_definer_executable_by_anon';
