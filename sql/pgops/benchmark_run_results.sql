-- The per-query results of one benchmark run.
select run_id, query, file, executions, budget_hit, p50_ms, p95_ms, p99_ms, skipped,
  plan_nodes, indexes_used, seq_scans, measured_at from pgops.benchmark_runs
  where run_id = %s
