-- Undoes 011_daily_restaurant_stats.sql: the trigger first (dropping it waits for the writes in flight on
-- orders, so none of them is left calling a dropped function), then its functions, the backfill
-- procedure and the rollup with its coverage flags. Dashboards read the raw orders again (the analytics
-- functions that read the rollup are rolled back before any versioned file).
-- pg_ops: transaction=on

drop trigger if exists orders_daily_rollup on public.orders;
drop function if exists private.orders_rollup_trigger();
drop function if exists private.rollup_apply(public.orders, integer);
drop procedure if exists private.rollup_backfill();
drop table if exists public.daily_restaurant_stats;
drop table if exists private.rollup_days;
