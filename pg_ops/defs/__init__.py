"""The Dagster layer: one module per stage of the rollout, then sensors, schedules and resources."""
