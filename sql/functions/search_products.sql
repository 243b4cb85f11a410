-- Catalog search for the customer app: available products whose name or description match, best first.
-- SECURITY DEFINER because under row-level security PostgreSQL may not use the GIN index for @@ (the
-- operator is not LEAKPROOF, so it must run after the policy, on every row). The function applies the
-- rule the products policy gives customers itself: only available products. search_path is empty, so
-- every name is qualified. Executable by anon and authenticated, like the catalog it searches.
-- pg_ops: step=rpc_functions

create or replace function public.search_products(p_query text, p_limit integer default 20)
returns table (id uuid, restaurant_id uuid, name text, price numeric, rank real)
language sql stable security definer
set search_path = ''
as $$
  select p.id, p.restaurant_id, p.name, p.price,
         pg_catalog.ts_rank(pg_catalog.to_tsvector('simple'::regconfig, p.name || ' ' || coalesce(p.description, '')),
                            pg_catalog.plainto_tsquery('simple'::regconfig, p_query)) as rank
  from public.products p
  where pg_catalog.to_tsvector('simple'::regconfig, p.name || ' ' || coalesce(p.description, ''))
        operator(pg_catalog.@@) pg_catalog.plainto_tsquery('simple'::regconfig, p_query)
    and p.is_available
  order by rank desc, p.id
  limit least(greatest(p_limit, 1), 100)
$$;

revoke all on function public.search_products(text, integer) from public;
grant execute on function public.search_products(text, integer) to anon, authenticated;
