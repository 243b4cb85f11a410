-- One monitoring snapshot into the history table.
insert into pgops.monitoring_snapshots
  (database, taken_at, read_ms, views_read, views_failed, pushed, push_error, data)
  values (%s, %s, %s, %s, %s, %s, %s, %s)
