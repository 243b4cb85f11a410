-- Fill the hourly platform rollup (017) online: one day per transaction. Idempotent: only days not yet
-- covered are filled.
-- pg_ops: step=rpc_functions
-- pg_ops: transaction=off

call private.platform_rollup_backfill();

vacuum (analyze) private.platform_hourly_stats;
