-- Revenue of delivered orders created in [p_start, p_end): total, count and average order value
-- (2 decimals), platform-wide or for one restaurant. Zero orders give 0, 0 and NULL.
-- SECURITY INVOKER: the caller's row-level security decides which orders count. Whole UTC days asked by an
-- admin or by a restaurant's owner are read from the daily rollup (011), anything else from raw orders;
-- both give the same numbers.
-- pg_ops: step=rpc_functions

create or replace function public.calculate_revenue_metrics(p_start timestamptz, p_end timestamptz, p_restaurant_id uuid default null)
returns table (total_revenue numeric, order_count bigint, avg_order_value numeric)
language plpgsql stable security invoker
set search_path = ''
as $$
begin
  if private.rollup_covers(p_start, p_end, p_restaurant_id) then
    if p_restaurant_id is null then
      return query select coalesce(sum(s.revenue), 0)::numeric, coalesce(sum(s.delivered), 0)::bigint, round(sum(s.revenue) / nullif(sum(s.delivered), 0), 2)
      from public.daily_restaurant_stats s where s.day >= (p_start at time zone 'UTC')::date and s.day < (p_end at time zone 'UTC')::date;
      return;
    end if;
    return query select coalesce(sum(s.revenue), 0)::numeric, coalesce(sum(s.delivered), 0)::bigint, round(sum(s.revenue) / nullif(sum(s.delivered), 0), 2)
      from public.daily_restaurant_stats s where s.restaurant_id = p_restaurant_id and s.day >= (p_start at time zone 'UTC')::date and s.day < (p_end at time zone 'UTC')::date;
    return;
  end if;
  return query select coalesce(sum(o.total_amount), 0), count(*), round(avg(o.total_amount), 2)
    from public.orders o where o.status = 'delivered' and o.created_at >= p_start and o.created_at < p_end and (p_restaurant_id is null or o.restaurant_id = p_restaurant_id);
end
$$;

revoke all on function public.calculate_revenue_metrics(timestamptz, timestamptz, uuid) from public, anon;
grant execute on function public.calculate_revenue_metrics(timestamptz, timestamptz, uuid) to authenticated;
