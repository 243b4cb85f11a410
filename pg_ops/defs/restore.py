"""restore_rehearsal: the newest backup restored into a scratch database, proven, timed and dropped; its own job
and a monthly schedule that stays off until PG_OPS_DRILL_CRON says when (a drill restores the whole database
on the target's server: that load is the owner's decision)."""

import os
from pathlib import Path

import dagster as dg

from pg_ops.defs.failures import one_line_failures
from pg_ops.defs.metadata import OWNERS, table
from pg_ops.defs.resources import PostgresTarget, PushgatewayTarget
from pg_ops.engine import restore
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.monitoring import push
from pg_ops.engine.paths import state_dir

DRILL_GROUP = "drills"
DRILL_CHECKS = ["row_counts", "rls_matrix", "indexes"]


class RestoreRehearsalConfig(dg.Config):
    folder: str = ""  # default: <state dir>/backups, where the backup asset writes
    jobs: int = 2  # pg_restore --jobs


@dg.asset(group_name=DRILL_GROUP, kinds={"postgres"}, owners=OWNERS,
          check_specs=[dg.AssetCheckSpec(name, asset="restore_rehearsal") for name in DRILL_CHECKS])
@one_line_failures
def restore_rehearsal(context: dg.AssetExecutionContext, target: PostgresTarget, pushgateway: PushgatewayTarget,
                      config: RestoreRehearsalConfig) -> dg.MaterializeResult:
    """The newest backup of the target restored with parallel jobs into a scratch database: row counts equal
    the backup's snapshot, the RLS matrix holds, the rollout's indexes are valid; then the scratch database
    is dropped. The time to restore is the recovery time to quote."""
    folder = Path(config.folder) if config.folder else state_dir() / "backups"
    drill = restore.rehearse(target.db, folder, jobs=config.jobs, log=context.log.info)
    outcome = drill.restored
    pushed = "no Pushgateway configured"
    if pushgateway.url:
        try:
            push.push_restore_drill(pushgateway.url, target.label, outcome.seconds, drill.ratio, outcome.passed,
                                    pushgateway.timeout_s)
            pushed = f"pushed to {pushgateway.url}"
        except PgOpsError as exc:  # monitoring being down must not fail the drill
            context.log.warning(str(exc))
            pushed = f"not pushed: {exc}"
    return dg.MaterializeResult(
        metadata={
            "outcome": "restored and proven" if outcome.passed else f"restored, checks failed: {outcome.failures()}",
            "backup": dg.MetadataValue.path(str(drill.backup)),
            "backup_taken_at": drill.taken_at,
            "backup_s": round(drill.backup_seconds, 2),
            "dump_s": round(drill.dump_seconds, 2),
            "restore_s": round(outcome.seconds, 2),
            "restore_over_dump": round(drill.ratio, 2),
            "jobs": config.jobs,
            "row_counts": table(outcome.row_counts),
            "pushgateway": pushed,
        },
        check_results=[dg.AssetCheckResult(check_name=c.name, passed=c.passed, description=c.detail)
                       for c in outcome.checks])


restore_rehearsal_job = dg.define_asset_job(
    "restore_rehearsal_job", selection=dg.AssetSelection.assets(restore_rehearsal),
    description="The restore drill: the newest backup restored into a scratch database, checked, timed, dropped.",
    executor_def=dg.in_process_executor)

restore_rehearsal_schedule = dg.ScheduleDefinition(
    name="restore_rehearsal_schedule", job=restore_rehearsal_job,
    cron_schedule=os.environ.get("PG_OPS_DRILL_CRON", "0 4 1 * *"), execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING if os.environ.get("PG_OPS_DRILL_CRON")
    else dg.DefaultScheduleStatus.STOPPED,
    description="Monthly restore drill (the 1st, 04:00 UTC); off until PG_OPS_DRILL_CRON is set, or start it here.")
