-- Orders created in [p_start, p_end) per status, with each status's share in percent (2 decimals),
-- platform-wide or for one restaurant; statuses with no orders are left out.
-- SECURITY INVOKER: the caller's row-level security decides which orders count.
-- pg_ops: step=rpc_functions

create or replace function public.get_order_status_distribution(
  p_start timestamptz, p_end timestamptz, p_restaurant_id uuid default null)
returns table (status text, order_count bigint, percentage numeric)
language sql stable security invoker
set search_path = ''
as $$
  select o.status, count(*), round(100.0 * count(*) / sum(count(*)) over (), 2)
  from public.orders o
  where o.created_at >= p_start and o.created_at < p_end
    and (p_restaurant_id is null or o.restaurant_id = p_restaurant_id)
  group by o.status
  order by o.status
$$;

revoke all on function public.get_order_status_distribution(timestamptz, timestamptz, uuid) from public, anon;
grant execute on function public.get_order_status_distribution(timestamptz, timestamptz, uuid) to authenticated;
