"""Watching the database: the monitoring views and role, the stack's checks, snapshots, the Pushgateway."""
