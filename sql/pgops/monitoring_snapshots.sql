-- pg_ops's monitoring snapshots in the target database: one row per monitoring_snapshot sensor tick,
-- written whether or not the Pushgateway took it, so the history has no gap when the gateway is down.
-- Kept for the reports; rows older than the retention setting are deleted by the sensor.
create schema if not exists pgops;
create table if not exists pgops.monitoring_snapshots (
  database text not null,          -- user@host:port/db the snapshot is of; never a password
  taken_at timestamptz not null,
  read_ms double precision not null,
  views_read integer not null,
  views_failed jsonb not null,     -- view -> the reason it could not be read
  pushed boolean not null,
  push_error text,                 -- why the Pushgateway did not take it (null when pushed or not configured)
  data jsonb not null,             -- view -> rows: all of them for small views, the 20 largest of the others
  primary key (database, taken_at)
);
