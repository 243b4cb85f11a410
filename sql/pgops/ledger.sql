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
-- A rollback (pg-ops migrate --down-to) marks a file rolled_back, or rollback_failed when its down failed.
do $$
begin
  if not exists (select 1 from pg_constraint where conname = 'schema_migrations_outcome_check'
                   and conrelid = 'pgops.schema_migrations'::regclass
                   and pg_get_constraintdef(oid) like '%rolled_back%') then
    alter table pgops.schema_migrations drop constraint if exists schema_migrations_outcome_check;
    alter table pgops.schema_migrations add constraint schema_migrations_outcome_check
      check (outcome in ('success', 'failed', 'rolled_back', 'rollback_failed'));
  end if;
end
$$;
-- Every up and every down, in order: the ledger above keeps each file's last outcome, this its history.
create table if not exists pgops.migration_history (
  id bigint generated always as identity primary key,
  version text not null,
  direction text not null check (direction in ('up', 'down')),
  sha256 text not null,                -- of the file that ran (the down file for a down)
  at timestamptz not null default now(),
  duration_ms integer not null,
  run_by text not null default current_user,
  outcome text not null check (outcome in ('success', 'failed')),
  error text
);
-- The policies of the tables a policy file touches, as they were just before it ran (pg_policies):
-- its down must leave exactly these.
create table if not exists pgops.policy_snapshots (
  version text primary key,
  taken_at timestamptz not null default now(),
  policies jsonb not null
);
-- What a repeatable file replaced when it last ran: each function's definition (pg_get_functiondef) and
-- privileges before, or null where the function did not exist. Its rollback puts these back.
create table if not exists pgops.replaced_functions (
  version text not null,
  signature text not null,
  definition text,
  acl text[],
  recorded_at timestamptz not null default now(),
  primary key (version, signature)
);
