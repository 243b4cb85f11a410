-- Dashboards over any window, not only whole days: a platform-wide hourly rollup beside the daily
-- per-restaurant one (011). An admin's "last 30 days" from now reads the whole hours inside the window
-- from here and only the minutes before the first and after the last whole hour from raw orders
-- (private.dashboard_totals). Filled online by 018, under the same coverage protocol as 011, with its own
-- flag per day.
--
-- Hot rows: every order write adds to its hour's row. Each row is split into 4 shards by the writing
-- session's pid, so concurrent writers rarely wait on each other; readers add the shards up.
-- pg_ops: step=rpc_functions
-- pg_ops: transaction=on

alter table private.rollup_days add column if not exists platform_covered boolean not null default false;

create table if not exists private.platform_hourly_stats (
  hour timestamptz not null,               -- the UTC hour of orders.created_at
  shard bigint not null,
  orders bigint not null default 0,
  pending bigint not null default 0,
  confirmed bigint not null default 0,
  preparing bigint not null default 0,
  ready bigint not null default 0,
  picked_up bigint not null default 0,
  delivered bigint not null default 0,
  cancelled bigint not null default 0,
  delivered_on_time bigint not null default 0,
  delivered_timed bigint not null default 0,
  delivery_seconds numeric not null default 0,
  revenue numeric(14, 2) not null default 0,
  primary key (hour, shard)
);
revoke all on private.platform_hourly_stats from public, anon, authenticated;

-- What one order adds to a rollup row, in the rollups' column order (orders .. revenue).
create or replace function private.rollup_counts(o public.orders) returns numeric[]
language sql immutable
set search_path = ''
as $$
  select array[1, (o.status = 'pending')::int, (o.status = 'confirmed')::int, (o.status = 'preparing')::int,
               (o.status = 'ready')::int, (o.status = 'picked_up')::int, (o.status = 'delivered')::int,
               (o.status = 'cancelled')::int,
               coalesce(o.status = 'delivered' and o.delivered_at <= o.estimated_delivery_at, false)::int,
               (o.status = 'delivered' and o.delivered_at is not null)::int,
               case when o.status = 'delivered' and o.delivered_at is not null
                    then extract(epoch from o.delivered_at - o.created_at) else 0 end,
               case when o.status = 'delivered' then o.total_amount else 0 end]::numeric[]
$$;

-- Adds `delta` (rollup_counts, signed) to the daily row of (restaurant, day) and to the hourly row of the
-- hour, each only once its day is covered (the backfill counts the days before that).
create or replace function private.rollup_add(p_restaurant_id uuid, p_created_at timestamptz, delta numeric[])
returns void
language plpgsql security definer set search_path = ''
as $$
declare
  d date := (p_created_at at time zone 'UTC')::date;
  h timestamptz := date_trunc('hour', p_created_at at time zone 'UTC') at time zone 'UTC';
  daily_covered boolean;
  hourly_covered boolean;
begin
  -- A covered day stays covered (its backfill has committed, and never counted this uncommitted row), so
  -- the usual write reads the flags without a lock; a FOR SHARE on the one row every write of the day
  -- touches would make concurrent writes create MultiXacts. Only a day the backfill has not finished
  -- yet takes the lock, as 011 describes.
  select covered, platform_covered into daily_covered, hourly_covered from private.rollup_days where day = d;
  if daily_covered is null then
    insert into private.rollup_days (day, covered, platform_covered) values (d, true, true)
    on conflict (day) do nothing;
  end if;
  if daily_covered is distinct from true or hourly_covered is distinct from true then
    select covered, platform_covered into daily_covered, hourly_covered from private.rollup_days where day = d
    for share;
  end if;
  if daily_covered then
    insert into public.daily_restaurant_stats as s (restaurant_id, day, orders, pending, confirmed, preparing, ready,
                                                    picked_up, delivered, cancelled, delivered_on_time,
                                                    delivered_timed, delivery_seconds, revenue)
    values (p_restaurant_id, d, delta[1], delta[2], delta[3], delta[4], delta[5], delta[6], delta[7], delta[8],
            delta[9], delta[10], delta[11], delta[12])
    on conflict (restaurant_id, day) do update set
      orders = s.orders + excluded.orders, pending = s.pending + excluded.pending,
      confirmed = s.confirmed + excluded.confirmed, preparing = s.preparing + excluded.preparing,
      ready = s.ready + excluded.ready, picked_up = s.picked_up + excluded.picked_up,
      delivered = s.delivered + excluded.delivered, cancelled = s.cancelled + excluded.cancelled,
      delivered_on_time = s.delivered_on_time + excluded.delivered_on_time,
      delivered_timed = s.delivered_timed + excluded.delivered_timed,
      delivery_seconds = s.delivery_seconds + excluded.delivery_seconds, revenue = s.revenue + excluded.revenue;
  end if;
  if hourly_covered then
    insert into private.platform_hourly_stats as s (hour, shard, orders, pending, confirmed, preparing, ready,
                                                    picked_up, delivered, cancelled, delivered_on_time,
                                                    delivered_timed, delivery_seconds, revenue)
    values (h, pg_catalog.pg_backend_pid() % 4, delta[1], delta[2], delta[3], delta[4], delta[5], delta[6],
            delta[7], delta[8], delta[9], delta[10], delta[11], delta[12])
    on conflict (hour, shard) do update set
      orders = s.orders + excluded.orders, pending = s.pending + excluded.pending,
      confirmed = s.confirmed + excluded.confirmed, preparing = s.preparing + excluded.preparing,
      ready = s.ready + excluded.ready, picked_up = s.picked_up + excluded.picked_up,
      delivered = s.delivered + excluded.delivered, cancelled = s.cancelled + excluded.cancelled,
      delivered_on_time = s.delivered_on_time + excluded.delivered_on_time,
      delivered_timed = s.delivered_timed + excluded.delivered_timed,
      delivery_seconds = s.delivery_seconds + excluded.delivery_seconds, revenue = s.revenue + excluded.revenue;
  end if;
end
$$;

-- One write to the rollups per order change in the common case (a status moves on: same restaurant, same
-- created_at): the new row's counts minus the old row's. Otherwise the old row comes out, the new goes in.
create or replace function private.orders_rollup_trigger() returns trigger
language plpgsql security definer set search_path = ''
as $$
declare
  delta numeric[];
begin
  if tg_op = 'UPDATE' and new.restaurant_id = old.restaurant_id and new.created_at = old.created_at then
    select array_agg(n - o order by i) into delta
    from unnest(private.rollup_counts(new), private.rollup_counts(old)) with ordinality as c(n, o, i);
    perform private.rollup_add(new.restaurant_id, new.created_at, delta);
    return null;
  end if;
  if tg_op in ('UPDATE', 'DELETE') then
    perform private.rollup_add(old.restaurant_id, old.created_at,
                               (select array_agg(-c order by i) from unnest(private.rollup_counts(old))
                                with ordinality as t(c, i)));
  end if;
  if tg_op in ('INSERT', 'UPDATE') then
    perform private.rollup_add(new.restaurant_id, new.created_at, private.rollup_counts(new));
  end if;
  return null;
end
$$;

revoke all on function private.rollup_counts(public.orders), private.rollup_add(uuid, timestamptz, numeric[])
  from public;

-- The trigger (011) now calls the functions above. The per-row function it called before,
-- private.rollup_apply, stays: a write that started before this commit may still call it (dropping it
-- failed such writes in pg_ops's own test under load).

create or replace procedure private.platform_rollup_backfill()
language plpgsql
as $$
declare
  d date;
begin
  for d in select day from private.rollup_days where not platform_covered order by day loop
    perform 1 from private.rollup_days where day = d for update;
    delete from private.platform_hourly_stats
    where hour >= d::timestamp at time zone 'UTC' and hour < (d + 1)::timestamp at time zone 'UTC';
    insert into private.platform_hourly_stats (hour, shard, orders, pending, confirmed, preparing, ready,
                                               picked_up, delivered, cancelled, delivered_on_time,
                                               delivered_timed, delivery_seconds, revenue)
    select date_trunc('hour', created_at at time zone 'UTC') at time zone 'UTC', 0, count(*),
           count(*) filter (where status = 'pending'), count(*) filter (where status = 'confirmed'),
           count(*) filter (where status = 'preparing'), count(*) filter (where status = 'ready'),
           count(*) filter (where status = 'picked_up'), count(*) filter (where status = 'delivered'),
           count(*) filter (where status = 'cancelled'),
           count(*) filter (where status = 'delivered' and delivered_at <= estimated_delivery_at),
           count(*) filter (where status = 'delivered' and delivered_at is not null),
           coalesce(sum(extract(epoch from delivered_at - created_at)) filter (where status = 'delivered'), 0),
           coalesce(sum(total_amount) filter (where status = 'delivered'), 0)
    from public.orders
    where created_at >= d::timestamp at time zone 'UTC' and created_at < (d + 1)::timestamp at time zone 'UTC'
    group by 1;
    update private.rollup_days set platform_covered = true where day = d;
    commit;
  end loop;
end
$$;

revoke all on procedure private.platform_rollup_backfill() from public;
