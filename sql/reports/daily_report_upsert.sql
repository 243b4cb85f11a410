-- Keep one day's aggregates (rebuilding a day replaces its row), and drop the rows past the retention.
insert into pgops.daily_reports (database, day, coverage, ticks, summary)
values (%(database)s, %(day)s, %(coverage)s, %(ticks)s, %(summary)s)
on conflict (database, day) do update
  set built_at = now(), coverage = excluded.coverage, ticks = excluded.ticks, summary = excluded.summary
