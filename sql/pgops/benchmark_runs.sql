-- pg_ops's benchmark results in the target database: one row per query per run.
create schema if not exists pgops;
create table if not exists pgops.benchmark_runs (
  run_id uuid not null,
  phase text not null,                 -- baseline | validation | nightly | bench
  query text not null,
  file text not null,
  measured_at timestamptz not null default now(),
  executions integer not null,
  budget_hit boolean not null,         -- fewer executions than asked, because of the time budget
  p50_ms double precision, p95_ms double precision, p99_ms double precision,
  mean_ms double precision, min_ms double precision, max_ms double precision,
  skipped text,                        -- why it could not be measured, if it was not
  plan_nodes text[], indexes_used text[], seq_scans text[],
  plan jsonb,
  primary key (run_id, query)
);
create index if not exists benchmark_runs_phase_measured_at_idx on pgops.benchmark_runs (phase, measured_at desc);
