-- What the index advisor built, kept or dropped, with the figures it decided on (one row per index per run).
create schema if not exists pgops;
create table if not exists pgops.index_advice (
  id bigserial primary key,
  run_id uuid not null,
  decided_at timestamptz not null default now(),
  index_name text not null,
  definition text not null,
  planted boolean not null,            -- a candidate given to the run, not found by it
  for_queries text[] not null,         -- the suite queries it was meant for
  estimated_cost_before double precision,
  estimated_cost_after double precision,
  p95_ms_before jsonb not null,        -- per query
  p95_ms_after jsonb,
  write_ms_before double precision,    -- mean time of the app's writes to the table (pg_stat_statements)
  write_ms_after double precision,
  decision text not null check (decision in ('kept', 'dropped', 'failed')),
  reason text not null
);
-- added after the first release (a ledger created before gets them here):
alter table pgops.index_advice add column if not exists inside_functions jsonb;  -- query -> function it serves
alter table pgops.index_advice add column if not exists p95_ms_without jsonb;  -- re-measured after a drop
