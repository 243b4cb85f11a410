-- Revenue of delivered orders created in [p_start, p_end): total, count and average order value
-- (2 decimals), platform-wide or for one restaurant. Zero orders give 0, 0 and NULL.
-- SECURITY INVOKER: the caller's row-level security decides which orders count. For an admin, or an owner
-- asking about their restaurant, the rollups answer most of any window (private.analytics_totals);
-- anything else is read from raw orders; both give the same numbers.
-- pg_ops: step=rpc_functions

create or replace function public.calculate_revenue_metrics(p_start timestamptz, p_end timestamptz, p_restaurant_id uuid default null)
returns table (total_revenue numeric, order_count bigint, avg_order_value numeric)
language plpgsql stable security invoker
set search_path = ''
as $$
declare
  t record;
begin
  select * into t from private.analytics_totals(p_start, p_end, p_restaurant_id);
  if found then
    return query select t.revenue, t.delivered::bigint, round(t.revenue / nullif(t.delivered, 0), 2);
    return;
  end if;
  return query select coalesce(sum(o.total_amount), 0), count(*), round(avg(o.total_amount), 2)
    from public.orders o where o.status = 'delivered' and o.created_at >= p_start and o.created_at < p_end and (p_restaurant_id is null or o.restaurant_id = p_restaurant_id);
end
$$;

revoke all on function public.calculate_revenue_metrics(timestamptz, timestamptz, uuid) from public, anon;
grant execute on function public.calculate_revenue_metrics(timestamptz, timestamptz, uuid) to authenticated;
