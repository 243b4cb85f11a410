-- Orders created in [p_start, p_end) per status, with each status's share in percent (2 decimals),
-- platform-wide or for one restaurant; statuses with no orders are left out.
-- SECURITY INVOKER: the caller's row-level security decides which orders count. For an admin, or an owner
-- asking about their restaurant, the rollups answer most of any window (private.analytics_totals);
-- anything else is read from raw orders; both give the same numbers.
-- pg_ops: step=rpc_functions

create or replace function public.get_order_status_distribution(p_start timestamptz, p_end timestamptz, p_restaurant_id uuid default null)
returns table (status text, order_count bigint, percentage numeric)
language plpgsql stable security invoker
set search_path = ''
as $$
declare
  t record;
begin
  select * into t from private.analytics_totals(p_start, p_end, p_restaurant_id);
  if found then
    return query select c.status, c.n::bigint, round(100.0 * c.n / t.orders, 2)
      from unnest(array['cancelled', 'confirmed', 'delivered', 'pending', 'picked_up', 'preparing', 'ready'],
                  array[t.cancelled, t.confirmed, t.delivered, t.pending, t.picked_up, t.preparing, t.ready])
           as c(status, n)
      where c.n > 0 order by c.status;
    return;
  end if;
  return query select o.status, count(*), round(100.0 * count(*) / sum(count(*)) over (), 2)
    from public.orders o where o.created_at >= p_start and o.created_at < p_end and (p_restaurant_id is null or o.restaurant_id = p_restaurant_id)
    group by o.status order by o.status;
end
$$;

revoke all on function public.get_order_status_distribution(timestamptz, timestamptz, uuid) from public, anon;
grant execute on function public.get_order_status_distribution(timestamptz, timestamptz, uuid) to authenticated;
