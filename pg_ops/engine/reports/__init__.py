"""Reports built from what pg_ops records: the daily performance report and the rollout report."""
