-- Fill the daily rollup (011) online: one day per transaction, a few milliseconds of lock per day.
-- Idempotent: only uncovered days are filled.
-- pg_ops: step=rpc_functions
-- pg_ops: transaction=off

call private.rollup_backfill();

-- Statistics and the visibility map for the new table (without them the planner guessed 151 rows for 15,000).
vacuum (analyze) public.daily_restaurant_stats;
