"""The pg_ops code location: assets, checks, jobs, schedules, sensors and resources, assembled."""

from __future__ import annotations

import dagster as dg

from pg_ops.monitoring_assets import monitoring_schema, monitoring_stack
from pg_ops.proof_assets import PROOF_ASSETS, PROOF_CHECKS
from pg_ops.resources import pushgateway_from_env, target_from_env, target_label_from_env
from pg_ops.rollout_assets import ROLLOUT_GROUP, preflight
from pg_ops.rollout_steps import ROLLOUT_CHECKS, ROLLOUT_STEP_ASSETS
from pg_ops.run_reaper import DATABASE_TAG
from pg_ops.schedules import nightly_validation, nightly_validation_job
from pg_ops.sensors import dead_runs, monitoring_snapshot

rollout_job = dg.define_asset_job(
    "rollout_job",
    selection=dg.AssetSelection.groups(ROLLOUT_GROUP),
    description="The whole rollout against PG_OPS_DSN, in graph order.",
    tags={DATABASE_TAG: target_label_from_env()},
    # The steps run one after another anyway; one process saves a Python start per step (~4 s each).
    executor_def=dg.in_process_executor,
)

defs = dg.Definitions(
    assets=[preflight, *PROOF_ASSETS, *ROLLOUT_STEP_ASSETS, monitoring_schema, monitoring_stack],
    asset_checks=[*ROLLOUT_CHECKS, *PROOF_CHECKS],
    jobs=[rollout_job, nightly_validation_job],
    schedules=[nightly_validation],
    sensors=[monitoring_snapshot, dead_runs],
    resources={"target": target_from_env(), "pushgateway": pushgateway_from_env()},
)
