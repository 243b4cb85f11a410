-- Every statement's cumulative counters from pg_stat_statements, captured by the monitoring_snapshot sensor
-- once an hour: what the daily report's per-statement deltas are computed from (the snapshot history keeps
-- only the top 20 statements of each tick, not enough for a day's deltas of every statement). A row per
-- statement and role per capture; kept as long as the snapshots (PG_OPS_SNAPSHOT_RETENTION_DAYS, 14 days).
create schema if not exists pgops;
create table if not exists pgops.statement_captures (
  database      text not null,             -- user@host:port/db; never a password
  taken_at      timestamptz not null,
  stats_reset   timestamptz,               -- pg_stat_statements_info.stats_reset: a change means counters restarted
  queryid       bigint not null,
  userid        oid not null,
  username      text not null,             -- the role's name when captured
  query         text not null,             -- the normalized text, first 1,000 characters
  calls         bigint not null,
  total_exec_ms double precision not null,
  rows          bigint not null,
  primary key (database, taken_at, queryid, userid)
);
