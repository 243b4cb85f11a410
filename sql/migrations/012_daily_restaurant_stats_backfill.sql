-- Fill the daily rollup (011) online: one day per transaction, a few milliseconds of lock per day.
-- Idempotent: only uncovered days are filled.
-- pg_ops: step=rpc_functions
-- pg_ops: transaction=off

call private.rollup_backfill();
