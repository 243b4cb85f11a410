-- Orders created in [p_start, p_end) per status, with each status's share in percent (2 decimals),
-- platform-wide or for one restaurant; statuses with no orders are left out.
-- SECURITY INVOKER: the caller's row-level security decides which orders count. Whole UTC days asked by an
-- admin or by a restaurant's owner are read from the daily rollup (011), anything else from raw orders;
-- both give the same numbers.
-- pg_ops: step=rpc_functions

create or replace function public.get_order_status_distribution(p_start timestamptz, p_end timestamptz, p_restaurant_id uuid default null)
returns table (status text, order_count bigint, percentage numeric)
language plpgsql stable security invoker
set search_path = ''
as $$
begin
  if private.rollup_covers(p_start, p_end, p_restaurant_id) then
    if p_restaurant_id is null then
      return query select t.status, t.n::bigint, round(100.0 * t.n / sum(t.n) over (), 2)
      from (select unnest(array['cancelled', 'confirmed', 'delivered', 'pending', 'picked_up', 'preparing', 'ready']) as status,
                   unnest(array[sum(s.cancelled), sum(s.confirmed), sum(s.delivered), sum(s.pending), sum(s.picked_up),
                                sum(s.preparing), sum(s.ready)]) as n
            from public.daily_restaurant_stats s where s.day >= (p_start at time zone 'UTC')::date and s.day < (p_end at time zone 'UTC')::date) t
      where t.n > 0 order by t.status;
      return;
    end if;
    return query select t.status, t.n::bigint, round(100.0 * t.n / sum(t.n) over (), 2)
      from (select unnest(array['cancelled', 'confirmed', 'delivered', 'pending', 'picked_up', 'preparing', 'ready']) as status,
                   unnest(array[sum(s.cancelled), sum(s.confirmed), sum(s.delivered), sum(s.pending), sum(s.picked_up),
                                sum(s.preparing), sum(s.ready)]) as n
            from public.daily_restaurant_stats s where s.restaurant_id = p_restaurant_id and s.day >= (p_start at time zone 'UTC')::date and s.day < (p_end at time zone 'UTC')::date) t
      where t.n > 0 order by t.status;
    return;
  end if;
  return query select o.status, count(*), round(100.0 * count(*) / sum(count(*)) over (), 2)
    from public.orders o where o.created_at >= p_start and o.created_at < p_end and (p_restaurant_id is null or o.restaurant_id = p_restaurant_id)
    group by o.status order by o.status;
end
$$;

revoke all on function public.get_order_status_distribution(timestamptz, timestamptz, uuid) from public, anon;
grant execute on function public.get_order_status_distribution(timestamptz, timestamptz, uuid) to authenticated;
