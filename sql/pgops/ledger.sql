-- pg_ops's ledger in the target database: one row per migration file, its checksum and last outcome.
-- (PostgreSQL reserves schema names starting with pg_, hence pgops.)
create schema if not exists pgops;
create table if not exists pgops.schema_migrations (
  version text primary key,            -- '001' for sql/migrations/001_x.sql, 'R:name' for sql/functions/name.sql
  name text not null,
  kind text not null check (kind in ('versioned', 'repeatable')),
  step text not null,                  -- the asset that applies it
  sha256 text not null,
  applied_at timestamptz not null default now(),
  duration_ms integer not null,
  applied_by text not null default current_user,
  outcome text not null check (outcome in ('success', 'failed')),
  error text
);
comment on table pgops.schema_migrations is 'pg_ops migration ledger; edit only through pg-ops migrate --repair';
