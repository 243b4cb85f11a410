"""The pg_ops code location: assets, checks, jobs, schedules, sensors and resources, assembled in graph order."""

from __future__ import annotations

import dagster as dg

from pg_ops.defs.advisor import index_advisor
from pg_ops.defs.backup import backup
from pg_ops.defs.baseline import baseline_performance
from pg_ops.defs.lint import lint_clean, policy_lint
from pg_ops.defs.metadata import ROLLOUT_GROUP
from pg_ops.defs.migrations import MIGRATION_ASSETS, MIGRATION_CHECKS
from pg_ops.defs.monitoring import check_monitoring_stack, install_monitoring_schema
from pg_ops.defs.pgbouncer import (
    IN_MEMORY,
    pgbouncer_figures,
    pgbouncer_from_env,
    pgbouncer_maintenance,
    pgbouncer_maintenance_schedule,
)
from pg_ops.defs.preflight import preflight
from pg_ops.defs.reports import daily_performance_report, daily_report_job, daily_report_schedule, rollout_report
from pg_ops.defs.resources import pushgateway_from_env, target_from_env, target_label_from_env
from pg_ops.defs.restore import restore_rehearsal, restore_rehearsal_job, restore_rehearsal_schedule
from pg_ops.defs.rollback import rollback_job
from pg_ops.defs.runs import DATABASE_TAG
from pg_ops.defs.schedules import nightly_validation, nightly_validation_job
from pg_ops.defs.sensors import dead_runs, monitoring_snapshot
from pg_ops.defs.validation import VALIDATION_CHECKS, validation

rollout_job = dg.define_asset_job(
    "rollout_job",
    selection=dg.AssetSelection.groups(ROLLOUT_GROUP),
    description="The whole rollout against PG_OPS_DSN, in graph order.",
    tags={DATABASE_TAG: target_label_from_env()},
    # The steps run one after another anyway; one process saves a Python start per step (~4 s each).
    executor_def=dg.in_process_executor,
)

defs = dg.Definitions(
    assets=[preflight, baseline_performance, backup, *MIGRATION_ASSETS, policy_lint, validation,
            install_monitoring_schema, check_monitoring_stack, rollout_report, daily_performance_report,
            restore_rehearsal, index_advisor],
    asset_checks=[*MIGRATION_CHECKS, *VALIDATION_CHECKS, lint_clean],
    jobs=[rollout_job, rollback_job, nightly_validation_job, pgbouncer_maintenance, daily_report_job,
          restore_rehearsal_job],
    schedules=[nightly_validation, pgbouncer_maintenance_schedule, daily_report_schedule, restore_rehearsal_schedule],
    sensors=[monitoring_snapshot, dead_runs, pgbouncer_figures],
    resources={"target": target_from_env(), "pushgateway": pushgateway_from_env(), "pgbouncer": pgbouncer_from_env(),
               IN_MEMORY: dg.InMemoryIOManager()},
)
