"""backup: a verified pg_dump of the target, taken before any change."""

from pathlib import Path

import dagster as dg

from pg_ops.defs.failures import one_line_failures
from pg_ops.defs.metadata import OWNERS, ROLLOUT_GROUP, table
from pg_ops.defs.resources import PostgresTarget, PushgatewayTarget
from pg_ops.engine.backup import take
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.migrations import migrate
from pg_ops.engine.monitoring import push
from pg_ops.engine.paths import state_dir


class BackupConfig(dg.Config):
    folder: str = ""  # default: <state dir>/backups
    verify_restore: bool = True
    keep_last: int = 5
    always: bool = False  # back up even when no migration is pending


@dg.asset(group_name=ROLLOUT_GROUP, kinds={"postgres"}, owners=OWNERS, deps=["baseline_performance"])
@one_line_failures
def backup(context: dg.AssetExecutionContext, target: PostgresTarget, pushgateway: PushgatewayTarget,
           config: BackupConfig) -> dg.MaterializeResult:
    """A pg_dump of the target, read back and restored into a scratch database with row-count parity."""
    pending = migrate.plan(target.db, migrate.Settings.platform()).pending
    if not pending and not config.always:
        context.log.info("no migration is pending: nothing will change, so no backup is needed (config always=true "
                         "takes one anyway)")
        return dg.MaterializeResult(metadata={"outcome": "no-op: nothing pending", "pending_migrations": 0})
    folder = Path(config.folder) if config.folder else state_dir() / "backups"
    report = take(target.db, folder, verify_restore=config.verify_restore,
                               keep_last=config.keep_last, log=context.log.info)
    pushed = "no Pushgateway configured"
    if pushgateway.url:
        try:
            push.push_backup(pushgateway.url, target.label, report.size_bytes, report.seconds,
                             report.restore == "verified", pushgateway.timeout_s)
            pushed = f"pushed to {pushgateway.url}"
        except PgOpsError as exc:  # monitoring being down must not fail the backup
            context.log.warning(str(exc))
            pushed = f"not pushed: {exc}"
    return dg.MaterializeResult(metadata={
        "pushgateway": pushed,
        "outcome": "backed up",
        "path": dg.MetadataValue.path(str(report.path)),
        "size_bytes": report.size_bytes,
        "size": f"{report.size_bytes / 2**20:,.1f} MiB",
        "duration_s": round(report.seconds, 2),
        "pg_dump_version": report.pg_dump_version,
        "toc_entries": report.toc_entries,
        "tables": report.tables,
        "restore": report.restore,
        "restore_s": round(report.restore_seconds, 2) if report.restore_seconds is not None else -1.0,
        "row_counts": table([{"table": t, "rows": n} for t, n in report.row_counts.items()]),
        "removed_by_retention": ", ".join(report.removed) or "none",
        "pending_migrations": len(pending),
    })
