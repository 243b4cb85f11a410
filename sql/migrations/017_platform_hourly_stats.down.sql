-- Undoes 017_platform_hourly_stats.sql: the order trigger's function goes back to 011's (the daily rollup
-- only, through private.rollup_apply), then the hourly rollup, its functions and its coverage flag go.
-- orders is locked first (SHARE ROW EXCLUSIVE: reads go on, writes wait a moment): a write in flight when
-- the function is replaced would still call private.rollup_add, and dropping that under it failed such
-- writes. With the lock, every write either finished before or runs the new function after the commit.
-- pg_ops: transaction=on

lock table public.orders in share row exclusive mode;

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

drop procedure if exists private.platform_rollup_backfill();
drop function if exists private.rollup_add(uuid, timestamptz, numeric[]);
drop function if exists private.rollup_counts(public.orders);
drop table if exists private.platform_hourly_stats;
alter table private.rollup_days drop column if exists platform_covered;
