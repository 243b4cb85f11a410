-- The order counters of a window [p_start, p_end) read from the rollups wherever they answer exactly:
-- for an admin platform-wide, the whole UTC hours inside the window from the hourly rollup (017); for an
-- admin or a restaurant's owner asking about one restaurant, the whole UTC days from the daily rollup
-- (011). The minutes or hours at the window's edges come from raw orders, so any window is exact.
-- No row when the rollups cannot answer (a caller who does not see whole restaurants, or a day not yet
-- backfilled): the four analytics functions then read raw orders through the caller's row-level security.
-- SECURITY DEFINER to read the private rollup and orders as a whole; it answers only callers who may see
-- every order it counts.
-- pg_ops: step=rpc_functions

create or replace function private.analytics_totals(p_start timestamptz, p_end timestamptz, p_restaurant_id uuid)
returns table (orders numeric, pending numeric, confirmed numeric, preparing numeric, ready numeric,
               picked_up numeric, delivered numeric, cancelled numeric, delivered_on_time numeric,
               delivered_timed numeric, delivery_seconds numeric, revenue numeric)
language plpgsql stable security definer
set search_path = ''
as $$
declare
  step interval := case when p_restaurant_id is null then interval '1 hour' else interval '1 day' end;
  unit text := case when p_restaurant_id is null then 'hour' else 'day' end;
  whole_from timestamptz;  -- the rollup answers [whole_from, whole_to); raw orders the rest of the window
  whole_to timestamptz;
begin
  if not (p_end > p_start) then
    return;
  end if;
  if p_restaurant_id is null then
    if not (select private.is_admin()) then
      return;
    end if;
  elsif not ((select private.is_admin()) or p_restaurant_id in (select private.my_restaurant_ids())) then
    return;
  end if;
  whole_from := pg_catalog.date_trunc(unit, p_start at time zone 'UTC') at time zone 'UTC';
  if whole_from < p_start then
    whole_from := whole_from + step;
  end if;
  whole_to := pg_catalog.date_trunc(unit, p_end at time zone 'UTC') at time zone 'UTC';
  if whole_from >= whole_to then
    whole_from := p_end;  -- no whole hour (day) inside: all of it from raw orders
    whole_to := p_end;
  elsif exists (select 1 from private.rollup_days d
                where d.day >= (whole_from at time zone 'UTC')::date and d.day < (whole_to at time zone 'UTC')::date
                                                                                + (unit = 'hour')::int
                  and not (case when p_restaurant_id is null then d.platform_covered else d.covered end)) then
    return;  -- a day the backfill has not reached yet
  end if;

  if p_restaurant_id is null then
    return query
      with parts as (
        select sum(h.orders) as orders, sum(h.pending) as pending, sum(h.confirmed) as confirmed,
               sum(h.preparing) as preparing, sum(h.ready) as ready, sum(h.picked_up) as picked_up,
               sum(h.delivered) as delivered, sum(h.cancelled) as cancelled,
               sum(h.delivered_on_time) as delivered_on_time, sum(h.delivered_timed) as delivered_timed,
               sum(h.delivery_seconds) as delivery_seconds, sum(h.revenue) as revenue
        from private.platform_hourly_stats h
        where h.hour >= whole_from and h.hour < whole_to
        union all
        select count(*), count(*) filter (where o.status = 'pending'), count(*) filter (where o.status = 'confirmed'),
               count(*) filter (where o.status = 'preparing'), count(*) filter (where o.status = 'ready'),
               count(*) filter (where o.status = 'picked_up'), count(*) filter (where o.status = 'delivered'),
               count(*) filter (where o.status = 'cancelled'),
               count(*) filter (where o.status = 'delivered' and o.delivered_at <= o.estimated_delivery_at),
               count(*) filter (where o.status = 'delivered' and o.delivered_at is not null),
               sum(extract(epoch from o.delivered_at - o.created_at)) filter (where o.status = 'delivered'),
               sum(o.total_amount) filter (where o.status = 'delivered')
        from public.orders o
        where (o.created_at >= p_start and o.created_at < whole_from)
           or (o.created_at >= whole_to and o.created_at < p_end)
      )
      select sum(p.orders), sum(p.pending), sum(p.confirmed), sum(p.preparing), sum(p.ready), sum(p.picked_up),
             sum(p.delivered), sum(p.cancelled), sum(p.delivered_on_time), sum(p.delivered_timed),
             coalesce(sum(p.delivery_seconds), 0), coalesce(sum(p.revenue), 0)
      from parts p;
    return;
  end if;
  return query
    with parts as (
      select sum(s.orders) as orders, sum(s.pending) as pending, sum(s.confirmed) as confirmed,
             sum(s.preparing) as preparing, sum(s.ready) as ready, sum(s.picked_up) as picked_up,
             sum(s.delivered) as delivered, sum(s.cancelled) as cancelled,
             sum(s.delivered_on_time) as delivered_on_time, sum(s.delivered_timed) as delivered_timed,
             sum(s.delivery_seconds) as delivery_seconds, sum(s.revenue) as revenue
      from public.daily_restaurant_stats s
      where s.restaurant_id = p_restaurant_id
        and s.day >= (whole_from at time zone 'UTC')::date and s.day < (whole_to at time zone 'UTC')::date
      union all
      select count(*), count(*) filter (where o.status = 'pending'), count(*) filter (where o.status = 'confirmed'),
             count(*) filter (where o.status = 'preparing'), count(*) filter (where o.status = 'ready'),
             count(*) filter (where o.status = 'picked_up'), count(*) filter (where o.status = 'delivered'),
             count(*) filter (where o.status = 'cancelled'),
             count(*) filter (where o.status = 'delivered' and o.delivered_at <= o.estimated_delivery_at),
             count(*) filter (where o.status = 'delivered' and o.delivered_at is not null),
             sum(extract(epoch from o.delivered_at - o.created_at)) filter (where o.status = 'delivered'),
             sum(o.total_amount) filter (where o.status = 'delivered')
      from public.orders o
      where o.restaurant_id = p_restaurant_id
        and ((o.created_at >= p_start and o.created_at < whole_from)
             or (o.created_at >= whole_to and o.created_at < p_end))
    )
    select sum(p.orders), sum(p.pending), sum(p.confirmed), sum(p.preparing), sum(p.ready), sum(p.picked_up),
           sum(p.delivered), sum(p.cancelled), sum(p.delivered_on_time), sum(p.delivered_timed),
           coalesce(sum(p.delivery_seconds), 0), coalesce(sum(p.revenue), 0)
    from parts p;
end
$$;

revoke all on function private.analytics_totals(timestamptz, timestamptz, uuid) from public;
grant execute on function private.analytics_totals(timestamptz, timestamptz, uuid) to authenticated;
