-- The monitoring schema: views over the statistics collector, read by the `monitoring` role, the
-- exporter and pg_ops's snapshot sensor. pg_stat_statements is found through the search_path pg_ops
-- sets when it applies these files (the extensions schema on Supabase, else public).
-- pg_ops: step=monitoring_schema

create schema if not exists monitoring;
comment on schema monitoring is 'pg_ops monitoring views; read-only for the monitoring role';
