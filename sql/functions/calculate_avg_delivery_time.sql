-- Average minutes from order to delivery (2 decimals) for delivered orders created in [p_start, p_end),
-- platform-wide or for one restaurant. NULL when nothing was delivered.
-- SECURITY INVOKER: the caller's row-level security decides which orders count. Whole UTC days asked by an
-- admin or by a restaurant's owner are read from the daily rollup (011), anything else from raw orders;
-- both give the same numbers.
-- pg_ops: step=rpc_functions

create or replace function public.calculate_avg_delivery_time(p_start timestamptz, p_end timestamptz, p_restaurant_id uuid default null)
returns numeric
language plpgsql stable security invoker
set search_path = ''
as $$
begin
  if private.rollup_covers(p_start, p_end, p_restaurant_id) then
    if p_restaurant_id is null then
      return (select round(sum(s.delivery_seconds) / nullif(sum(s.delivered_timed), 0) / 60, 2) from public.daily_restaurant_stats s where s.day >= (p_start at time zone 'UTC')::date and s.day < (p_end at time zone 'UTC')::date);
    end if;
    return (select round(sum(s.delivery_seconds) / nullif(sum(s.delivered_timed), 0) / 60, 2) from public.daily_restaurant_stats s
            where s.restaurant_id = p_restaurant_id and s.day >= (p_start at time zone 'UTC')::date and s.day < (p_end at time zone 'UTC')::date);
  end if;
  return (select round((avg(extract(epoch from o.delivered_at - o.created_at)) / 60)::numeric, 2) from public.orders o where o.status = 'delivered' and o.created_at >= p_start and o.created_at < p_end and (p_restaurant_id is null or o.restaurant_id = p_restaurant_id));
end
$$;

revoke all on function public.calculate_avg_delivery_time(timestamptz, timestamptz, uuid) from public, anon;
grant execute on function public.calculate_avg_delivery_time(timestamptz, timestamptz, uuid) to authenticated;
