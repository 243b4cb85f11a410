-- Every maintenance run against a live PgBouncer: what was rendered, what the pooler ran before and after,
-- and how it ended. The ini text is kept (it holds no password: those stay in PostgreSQL, read through
-- auth_query) so that a hand edit on the server can be shown as a diff against what pg_ops deployed.
create schema if not exists pgops;

create table if not exists pgops.pooler_deployments (
  id             bigint generated always as identity primary key,
  started_at     timestamptz not null,
  finished_at    timestamptz not null default now(),
  pooler         text not null,               -- host:port of the live pooler's admin console
  ini_path       text not null,
  outcome        text not null check (outcome in ('deployed', 'unchanged', 'rolled_back', 'rollback_failed', 'refused')),
  detail         text not null,
  window_note    text not null default '',    -- inside the window, or the override's reason
  restarted      boolean not null default false,
  seconds        double precision not null,
  changes        jsonb not null default '[]', -- [{"key", "before", "after"}]
  ini_sha256     text,
  ini            text
);

create index if not exists pooler_deployments_pooler_idx on pgops.pooler_deployments (pooler, id desc);
