-- Settings a rollout depends on, for the preflight report.
select name, setting, unit, source
from pg_settings
where name in ('server_version', 'shared_preload_libraries', 'track_functions', 'track_io_timing',
               'max_connections', 'shared_buffers', 'work_mem', 'maintenance_work_mem',
               'max_parallel_maintenance_workers', 'lock_timeout', 'statement_timeout',
               'idle_in_transaction_session_timeout', 'data_directory', 'wal_level', 'max_wal_size')
order by name;
