-- Analytics dashboards: a daily per-restaurant rollup of orders, kept current by a trigger, so a 30-day
-- dashboard reads ~30 rows per restaurant instead of every order. Filled online, day by day (012).
--
-- Coverage protocol (why no write is lost or counted twice while the backfill runs): private.rollup_days
-- has one row per day. Days that already have orders start uncovered; the trigger ignores them (the
-- backfill counts them) and takes a FOR SHARE lock on the day's row; the backfill takes FOR UPDATE on it,
-- aggregates with a fresh snapshot, marks it covered and commits. A write either finished before the
-- backfill's lock (and is in its snapshot) or waits for it and then sees the day covered (and adds its
-- delta). Other days are covered from the start.
-- pg_ops: step=rpc_functions
-- pg_ops: transaction=on

create schema if not exists private;

create table if not exists private.rollup_days (
  day date primary key,
  covered boolean not null
);

create table if not exists public.daily_restaurant_stats (
  restaurant_id uuid not null,
  day date not null,                       -- UTC day of orders.created_at
  orders bigint not null default 0,
  pending bigint not null default 0,
  confirmed bigint not null default 0,
  preparing bigint not null default 0,
  ready bigint not null default 0,
  picked_up bigint not null default 0,
  delivered bigint not null default 0,
  cancelled bigint not null default 0,
  delivered_on_time bigint not null default 0,
  delivered_timed bigint not null default 0,     -- delivered orders that have a delivered_at
  delivery_seconds numeric not null default 0,   -- sum over those
  revenue numeric(14, 2) not null default 0,     -- sum of total_amount over delivered orders
  primary key (restaurant_id, day)
);
create index if not exists daily_restaurant_stats_day_idx on public.daily_restaurant_stats (day);

alter table public.daily_restaurant_stats enable row level security;
drop policy if exists daily_restaurant_stats_select on public.daily_restaurant_stats;
create policy daily_restaurant_stats_select on public.daily_restaurant_stats for select to authenticated
  using ((select private.is_admin()) or restaurant_id in (select private.my_restaurant_ids()));
revoke all on public.daily_restaurant_stats from anon, authenticated;
grant select on public.daily_restaurant_stats to authenticated;

-- Days that have orders now are filled by the backfill; every other day is live from the start.
insert into private.rollup_days (day, covered)
select generate_series(min(created_at at time zone 'UTC')::date, (now() at time zone 'UTC')::date + 1, '1 day')::date,
       false
from public.orders
on conflict (day) do nothing;

create or replace function private.rollup_apply(o public.orders, sign integer) returns void
language plpgsql security definer set search_path = ''
as $$
declare
  d date := (o.created_at at time zone 'UTC')::date;
  is_covered boolean;
begin
  insert into private.rollup_days (day, covered) values (d, true) on conflict (day) do nothing;
  select covered into is_covered from private.rollup_days where day = d for share;
  if not is_covered then
    return;  -- the backfill will count this day, this row included
  end if;
  insert into public.daily_restaurant_stats as s (restaurant_id, day, orders, pending, confirmed, preparing, ready,
                                                  picked_up, delivered, cancelled, delivered_on_time,
                                                  delivered_timed, delivery_seconds, revenue)
  values (o.restaurant_id, d, sign,
          sign * (o.status = 'pending')::int, sign * (o.status = 'confirmed')::int,
          sign * (o.status = 'preparing')::int, sign * (o.status = 'ready')::int,
          sign * (o.status = 'picked_up')::int, sign * (o.status = 'delivered')::int,
          sign * (o.status = 'cancelled')::int,
          sign * coalesce(o.status = 'delivered' and o.delivered_at <= o.estimated_delivery_at, false)::int,
          sign * (o.status = 'delivered' and o.delivered_at is not null)::int,
          case when o.status = 'delivered' and o.delivered_at is not null
               then sign * extract(epoch from o.delivered_at - o.created_at) else 0 end,
          case when o.status = 'delivered' then sign * o.total_amount else 0 end)
  on conflict (restaurant_id, day) do update set
    orders = s.orders + excluded.orders, pending = s.pending + excluded.pending,
    confirmed = s.confirmed + excluded.confirmed, preparing = s.preparing + excluded.preparing,
    ready = s.ready + excluded.ready, picked_up = s.picked_up + excluded.picked_up,
    delivered = s.delivered + excluded.delivered, cancelled = s.cancelled + excluded.cancelled,
    delivered_on_time = s.delivered_on_time + excluded.delivered_on_time,
    delivered_timed = s.delivered_timed + excluded.delivered_timed,
    delivery_seconds = s.delivery_seconds + excluded.delivery_seconds, revenue = s.revenue + excluded.revenue;
end
$$;

create or replace function private.orders_rollup_trigger() returns trigger
language plpgsql security definer set search_path = ''
as $$
begin
  if tg_op in ('UPDATE', 'DELETE') then
    perform private.rollup_apply(old, -1);
  end if;
  if tg_op in ('INSERT', 'UPDATE') then
    perform private.rollup_apply(new, 1);
  end if;
  return null;
end
$$;

revoke all on function private.rollup_apply(public.orders, integer), private.orders_rollup_trigger() from public;

drop trigger if exists orders_daily_rollup on public.orders;
create trigger orders_daily_rollup
  after insert or delete or update of status, total_amount, delivered_at, estimated_delivery_at, created_at,
    restaurant_id
  on public.orders for each row execute function private.orders_rollup_trigger();

-- Day by day, each in its own transaction (CALL it outside a transaction block): see the protocol above.
-- A procedure that commits may not carry SET search_path, so every name in it is qualified, and only
-- its owner may call it.
create or replace procedure private.rollup_backfill()
language plpgsql
as $$
declare
  d date;
begin
  for d in select day from private.rollup_days where not covered order by day loop
    perform 1 from private.rollup_days where day = d for update;
    delete from public.daily_restaurant_stats where day = d;
    insert into public.daily_restaurant_stats (restaurant_id, day, orders, pending, confirmed, preparing, ready,
                                               picked_up, delivered, cancelled, delivered_on_time,
                                               delivered_timed, delivery_seconds, revenue)
    select restaurant_id, d, count(*),
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
    group by restaurant_id;
    update private.rollup_days set covered = true where day = d;
    commit;
  end loop;
end
$$;

revoke all on procedure private.rollup_backfill() from public;
