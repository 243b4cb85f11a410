-- The order counters of a window [p_start, p_end) read from the rollups wherever they answer exactly:
-- for an admin platform-wide, UTC hours from the hourly rollup (017); for an admin or a restaurant's
-- owner asking about one restaurant, UTC days from the daily rollup (011). At each edge of the window
-- the bucket it cuts is either left out and its part inside the window added from raw orders, or taken
-- whole and its part outside the window subtracted from raw orders, whichever part is shorter. So any
-- window is exact, and "the last 30 days until now" reads the current bucket whole and subtracts what
-- lies after now: nothing, however many orders the last minutes brought.
-- No row when the rollups cannot answer (a caller who does not see whole restaurants, or a day not yet
-- backfilled): the four analytics functions then read raw orders through the caller's row-level security.
-- SECURITY DEFINER to read the private rollup and orders as a whole; it answers only callers who may see
-- every order it counts.
-- pg_ops: step=rpc_functions

-- The counters of the orders created in [p_from, p_to) (all restaurants when p_restaurant_id is null),
-- each multiplied by p_sign.
create or replace function private.raw_order_counts(p_from timestamptz, p_to timestamptz, p_restaurant_id uuid,
                                                    p_sign numeric)
returns table (orders numeric, pending numeric, confirmed numeric, preparing numeric, ready numeric,
               picked_up numeric, delivered numeric, cancelled numeric, delivered_on_time numeric,
               delivered_timed numeric, delivery_seconds numeric, revenue numeric)
language plpgsql stable security definer
set search_path = ''
as $$
begin
  if p_to <= p_from then
    return;
  end if;
  -- one statement per case, not "p_restaurant_id is null or ...": each keeps the plan made for it
  if p_restaurant_id is null then
    return query
      select p_sign * count(*), p_sign * count(*) filter (where o.status = 'pending'),
             p_sign * count(*) filter (where o.status = 'confirmed'), p_sign * count(*) filter (where o.status = 'preparing'),
             p_sign * count(*) filter (where o.status = 'ready'), p_sign * count(*) filter (where o.status = 'picked_up'),
             p_sign * count(*) filter (where o.status = 'delivered'), p_sign * count(*) filter (where o.status = 'cancelled'),
             p_sign * count(*) filter (where o.status = 'delivered' and o.delivered_at <= o.estimated_delivery_at),
             p_sign * count(*) filter (where o.status = 'delivered' and o.delivered_at is not null),
             p_sign * coalesce(sum(extract(epoch from o.delivered_at - o.created_at)) filter (where o.status = 'delivered'), 0),
             p_sign * coalesce(sum(o.total_amount) filter (where o.status = 'delivered'), 0)
      from public.orders o
      where o.created_at >= p_from and o.created_at < p_to;
    return;
  end if;
  return query
    select p_sign * count(*), p_sign * count(*) filter (where o.status = 'pending'),
           p_sign * count(*) filter (where o.status = 'confirmed'), p_sign * count(*) filter (where o.status = 'preparing'),
           p_sign * count(*) filter (where o.status = 'ready'), p_sign * count(*) filter (where o.status = 'picked_up'),
           p_sign * count(*) filter (where o.status = 'delivered'), p_sign * count(*) filter (where o.status = 'cancelled'),
           p_sign * count(*) filter (where o.status = 'delivered' and o.delivered_at <= o.estimated_delivery_at),
           p_sign * count(*) filter (where o.status = 'delivered' and o.delivered_at is not null),
           p_sign * coalesce(sum(extract(epoch from o.delivered_at - o.created_at)) filter (where o.status = 'delivered'), 0),
           p_sign * coalesce(sum(o.total_amount) filter (where o.status = 'delivered'), 0)
    from public.orders o
    where o.restaurant_id = p_restaurant_id and o.created_at >= p_from and o.created_at < p_to;
end
$$;

revoke all on function private.raw_order_counts(timestamptz, timestamptz, uuid, numeric) from public;

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
  now_ts timestamptz := pg_catalog.now();
  first_cut timestamptz := pg_catalog.date_trunc(unit, p_start at time zone 'UTC') at time zone 'UTC';
  last_cut timestamptz := pg_catalog.date_trunc(unit, p_end at time zone 'UTC') at time zone 'UTC';
  buckets_from timestamptz;  -- the rollup's buckets [buckets_from, buckets_to) are read whole
  buckets_to timestamptz;
  head_from timestamptz; head_to timestamptz; head_sign integer := 1;  -- raw orders at the start edge
  tail_from timestamptz; tail_to timestamptz; tail_sign integer := 1;  -- and at the end edge
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
  if first_cut = last_cut then  -- inside one bucket: raw orders only
    return query select * from private.raw_order_counts(p_start, p_end, p_restaurant_id, 1);
    return;
  end if;
  -- start edge: the part of its bucket inside the window, or the (shorter) part before it, subtracted
  if p_start = first_cut then
    buckets_from := first_cut; head_from := p_start; head_to := p_start;
  elsif p_start - first_cut < least(first_cut + step, now_ts) - p_start then
    buckets_from := first_cut; head_from := first_cut; head_to := p_start; head_sign := -1;
  else
    buckets_from := first_cut + step; head_from := p_start; head_to := first_cut + step;
  end if;
  -- end edge: what lies after p_end (nothing yet, when p_end is now) counts only up to now
  if p_end = last_cut then
    buckets_to := last_cut; tail_from := p_end; tail_to := p_end;
  elsif greatest(least(last_cut + step, now_ts) - p_end, interval '0') < p_end - last_cut then
    buckets_to := last_cut + step; tail_from := p_end; tail_to := last_cut + step; tail_sign := -1;
  else
    buckets_to := last_cut; tail_from := last_cut; tail_to := p_end;
  end if;
  if exists (select 1 from private.rollup_days d
             where d.day >= (buckets_from at time zone 'UTC')::date
               and d.day <= ((buckets_to - interval '1 microsecond') at time zone 'UTC')::date
               and not (case when p_restaurant_id is null then d.platform_covered else d.covered end)) then
    return;  -- a day the backfill has not reached yet
  end if;

  return query
    with parts as (
      select sum(h.orders) as orders, sum(h.pending) as pending, sum(h.confirmed) as confirmed,
             sum(h.preparing) as preparing, sum(h.ready) as ready, sum(h.picked_up) as picked_up,
             sum(h.delivered) as delivered, sum(h.cancelled) as cancelled,
             sum(h.delivered_on_time) as delivered_on_time, sum(h.delivered_timed) as delivered_timed,
             sum(h.delivery_seconds) as delivery_seconds, sum(h.revenue) as revenue
      from private.platform_hourly_stats h
      where p_restaurant_id is null and h.hour >= buckets_from and h.hour < buckets_to
      union all
      select sum(s.orders), sum(s.pending), sum(s.confirmed), sum(s.preparing), sum(s.ready), sum(s.picked_up),
             sum(s.delivered), sum(s.cancelled), sum(s.delivered_on_time), sum(s.delivered_timed),
             sum(s.delivery_seconds), sum(s.revenue)
      from public.daily_restaurant_stats s
      where s.restaurant_id = p_restaurant_id
        and s.day >= (buckets_from at time zone 'UTC')::date and s.day < (buckets_to at time zone 'UTC')::date
      union all
      select * from private.raw_order_counts(head_from, head_to, p_restaurant_id, head_sign)
      union all
      select * from private.raw_order_counts(tail_from, tail_to, p_restaurant_id, tail_sign)
    )
    select coalesce(sum(p.orders), 0), coalesce(sum(p.pending), 0), coalesce(sum(p.confirmed), 0),
           coalesce(sum(p.preparing), 0), coalesce(sum(p.ready), 0), coalesce(sum(p.picked_up), 0),
           coalesce(sum(p.delivered), 0), coalesce(sum(p.cancelled), 0), coalesce(sum(p.delivered_on_time), 0),
           coalesce(sum(p.delivered_timed), 0), coalesce(sum(p.delivery_seconds), 0), coalesce(sum(p.revenue), 0)
    from parts p;
end
$$;

revoke all on function private.analytics_totals(timestamptz, timestamptz, uuid) from public;
grant execute on function private.analytics_totals(timestamptz, timestamptz, uuid) to authenticated;
