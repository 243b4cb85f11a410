"""When things run on their own: the nightly validation against the configured database."""

import os

import dagster as dg

from pg_ops.defs.validation import validation

# Validation only: it measures and checks, and changes nothing in the application's schema or data.
nightly_validation_job = dg.define_asset_job(
    "nightly_validation_job",
    selection=dg.AssetSelection.assets(validation).without_checks() | dg.AssetSelection.checks_for_assets(validation),
    description="The benchmark suite and its checks against PG_OPS_DSN; changes nothing.",
    executor_def=dg.in_process_executor,
)

nightly_validation = dg.ScheduleDefinition(
    name="nightly_validation",
    job=nightly_validation_job,
    cron_schedule=os.environ.get("PG_OPS_NIGHTLY_CRON", "0 3 * * *"),
    execution_timezone=os.environ.get("PG_OPS_NIGHTLY_TIMEZONE", "UTC"),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every night (03:00 UTC unless PG_OPS_NIGHTLY_CRON / PG_OPS_NIGHTLY_TIMEZONE say otherwise).",
)
