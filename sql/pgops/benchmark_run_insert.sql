-- One query's results of a benchmark run.
insert into pgops.benchmark_runs (run_id, phase, query, file, executions, budget_hit, p50_ms,
  p95_ms, p99_ms, mean_ms, min_ms, max_ms, skipped, plan_nodes, indexes_used, seq_scans, plan)
  values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
