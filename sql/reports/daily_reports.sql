-- The daily performance report's aggregates, one row per database and UTC day, kept long (400 days by
-- default, PG_OPS_REPORT_RETENTION_DAYS) so that 30-day trends never depend on the snapshot history's
-- 14-day retention. `summary` holds what the HTML page shows, as numbers.
create schema if not exists pgops;
create table if not exists pgops.daily_reports (
  database  text not null,
  day       date not null,
  built_at  timestamptz not null default now(),
  coverage  double precision not null,   -- share of the expected snapshot ticks present that day
  ticks     integer not null,
  summary   jsonb not null,
  primary key (database, day)
);
