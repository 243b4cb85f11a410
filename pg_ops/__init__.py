"""pg_ops: run a PostgreSQL performance rollout as Dagster assets, prove it, and keep watching it."""
