-- Share of delivered orders that arrived by their estimated time, in percent (2 decimals), for orders
-- created in [p_start, p_end), platform-wide or for one restaurant. NULL when nothing was delivered.
-- SECURITY INVOKER: the caller's row-level security decides which orders count. For an admin, or an owner
-- asking about their restaurant, the rollups answer most of any window (private.analytics_totals);
-- anything else is read from raw orders; both give the same numbers.
-- pg_ops: step=rpc_functions

create or replace function public.calculate_on_time_rate(p_start timestamptz, p_end timestamptz, p_restaurant_id uuid default null)
returns numeric
language plpgsql stable security invoker
set search_path = ''
as $$
declare
  t record;
begin
  select * into t from private.analytics_totals(p_start, p_end, p_restaurant_id);
  if found then
    return round(100.0 * t.delivered_on_time / nullif(t.delivered, 0), 2);
  end if;
  return (select round(100.0 * count(*) filter (where o.delivered_at <= o.estimated_delivery_at) / nullif(count(*), 0), 2) from public.orders o where o.status = 'delivered' and o.created_at >= p_start and o.created_at < p_end and (p_restaurant_id is null or o.restaurant_id = p_restaurant_id));
end
$$;

revoke all on function public.calculate_on_time_rate(timestamptz, timestamptz, uuid) from public, anon;
grant execute on function public.calculate_on_time_rate(timestamptz, timestamptz, uuid) to authenticated;
