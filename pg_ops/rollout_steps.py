"""The rollout steps after preflight: backup, index migrations, RLS policies, RPC functions, and their checks."""

from pathlib import Path
from typing import Any

import dagster as dg

from pg_ops import backup as backup_engine
from pg_ops import index_lifecycle, ledger, migrate, migration_files, sqlfiles
from pg_ops import pushgateway as push
from pg_ops.dagster_errors import one_line_failures
from pg_ops.errors import PgOpsError
from pg_ops.paths import state_dir
from pg_ops.resources import PostgresTarget, PushgatewayTarget
from pg_ops.rollout_assets import OWNERS, ROLLOUT_GROUP

DDL_POOL = "pg_ddl"  # one DDL step at a time per instance (dagster.yaml sets the pool's limit)
APP_SCHEMAS = ["public", "private"]


class BackupConfig(dg.Config):
    folder: str = ""  # default: <state dir>/backups
    verify_restore: bool = True
    keep_last: int = 5
    always: bool = False  # back up even when no migration is pending


class MigrationConfig(dg.Config):
    lock_timeout_ms: int = 500  # capped at half of deadlock_timeout
    ddl_attempts: int = 4
    build_attempts: int = 3
    runner_lock_wait_s: int = 60


def _settings(config: MigrationConfig, target: PostgresTarget) -> migrate.Settings:
    return migrate.Settings.platform(lock_timeout_ms=config.lock_timeout_ms, ddl_attempts=config.ddl_attempts,
                                     build_attempts=config.build_attempts,
                                     runner_lock_wait_s=float(config.runner_lock_wait_s),
                                     application_name=f"{target.application_name} migrate")


def _table(rows: list[dict[str, Any]]) -> dg.MetadataValue:
    columns = list(rows[0]) if rows else ["empty"]
    return dg.MetadataValue.table(
        records=[dg.TableRecord({k: ("" if v is None else v if isinstance(v, (int, float, bool)) else str(v))
                                 for k, v in row.items()}) for row in rows],
        schema=dg.TableSchema(columns=[dg.TableColumn(c, "string") for c in columns]))


@dg.asset(group_name=ROLLOUT_GROUP, kinds={"postgres"}, owners=OWNERS, deps=["baseline_performance"])
@one_line_failures
def backup(context: dg.AssetExecutionContext, target: PostgresTarget, pushgateway: PushgatewayTarget,
           config: BackupConfig) -> dg.MaterializeResult:
    """A pg_dump of the target, read back and restored into a scratch database with row-count parity."""
    pending = migrate.plan(target.dsn, migrate.Settings.platform()).pending
    if not pending and not config.always:
        context.log.info("no migration is pending: nothing will change, so no backup is needed (config always=true "
                         "takes one anyway)")
        return dg.MaterializeResult(metadata={"outcome": "no-op: nothing pending", "pending_migrations": 0})
    folder = Path(config.folder) if config.folder else state_dir() / "backups"
    report = backup_engine.run(target.dsn, folder, verify_restore=config.verify_restore,
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
        "row_counts": _table([{"table": t, "rows": n} for t, n in report.row_counts.items()]),
        "removed_by_retention": ", ".join(report.removed) or "none",
        "pending_migrations": len(pending),
    })


def _apply_step(context: dg.AssetExecutionContext, target: PostgresTarget, config: MigrationConfig,
                step: str) -> tuple[migrate.Report, dict[str, Any]]:
    report = migrate.apply(target.dsn, _settings(config, target), step=step, log=context.log.info)
    if not report.applied:
        context.log.info(f"no-op: every {step} file was already applied ({len(report.skipped)} files)")
    metadata: dict[str, Any] = {
        "outcome": f"applied {len(report.applied)} file(s)" if report.applied else "no-op: already applied",
        "applied": _table([{"file": a.label, "duration_ms": a.duration_ms, "statements_ms": a.statements_ms,
                            "result": a.detail} for a in report.applied]),
        "already_applied": len(report.skipped),
        "wall_s": round(report.seconds, 2),
        "statements_s": round(report.statements_ms / 1000, 2),
        "ledger": _table(ledger.as_records(report.ledger)),
    }
    return report, metadata


@dg.asset(group_name=ROLLOUT_GROUP, kinds={"postgres"}, owners=OWNERS, deps=[backup], pool=DDL_POOL)
@one_line_failures
def index_migrations(context: dg.AssetExecutionContext, target: PostgresTarget,
                     config: MigrationConfig) -> dg.MaterializeResult:
    """Every planned index, built CONCURRENTLY (writes never blocked), valid and ready."""
    _, metadata = _apply_step(context, target, config, "index_migrations")
    with target.connect() as conn:
        sizes = [{"index": b.qualified_name, "table": b.table,
                  "size": f"{s.size_bytes / 2**20:,.1f} MiB" if s else "missing",
                  "valid": bool(s and s.usable)}
                 for b in _intended_indexes() for s in [index_lifecycle.state(conn, b)]]
    metadata["indexes"] = _table(sizes)
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(group_name=ROLLOUT_GROUP, kinds={"postgres"}, owners=OWNERS, deps=[index_migrations], pool=DDL_POOL)
@one_line_failures
def rls_policies(context: dg.AssetExecutionContext, target: PostgresTarget,
                 config: MigrationConfig) -> dg.MaterializeResult:
    """Row-level security rewritten for speed, in one transaction, with the same allow/deny behaviour."""
    _, metadata = _apply_step(context, target, config, "rls_policies")
    with target.connect() as conn:
        metadata["policies"] = _table(conn.execute(sqlfiles.read("pgops/policies.sql")).fetchall())  # type: ignore[arg-type]
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(group_name=ROLLOUT_GROUP, kinds={"postgres"}, owners=OWNERS, deps=[rls_policies], pool=DDL_POOL)
@one_line_failures
def rpc_functions(context: dg.AssetExecutionContext, target: PostgresTarget,
                  config: MigrationConfig) -> dg.MaterializeResult:
    """The daily rollup (filled online) and the analytics and search functions, each with a fixed search_path."""
    _, metadata = _apply_step(context, target, config, "rpc_functions")
    with target.connect() as conn:
        metadata["functions"] = _table(conn.execute(sqlfiles.read("pgops/functions_search_path.sql"),  # type: ignore[arg-type]
                                                    {"schemas": APP_SCHEMAS}).fetchall())
    return dg.MaterializeResult(metadata=metadata)


def _intended_indexes() -> list[migration_files.IndexBuild]:
    settings = migrate.Settings.platform()
    files = migration_files.discover(settings.migrations_dir, settings.functions_dir)
    return [b for f in files if f.step == "index_migrations" for b in f.index_builds]


@dg.asset_check(asset=index_migrations, blocking=True)
@one_line_failures
def no_invalid_indexes(target: PostgresTarget) -> dg.AssetCheckResult:
    """No index anywhere in the database is INVALID or not ready (a failed concurrent build leaves one)."""
    with target.connect() as conn:
        rows = conn.execute(sqlfiles.read("pgops/invalid_indexes.sql")).fetchall()  # type: ignore[arg-type]
    return dg.AssetCheckResult(
        passed=not rows, metadata={"invalid": _table(rows), "count": len(rows)},
        description=("none" if not rows else
                     f"{len(rows)} invalid: " + ", ".join(f"{r['schema']}.{r['index']}" for r in rows[:5])))


@dg.asset_check(asset=index_migrations, blocking=True)
@one_line_failures
def intended_indexes_exist(target: PostgresTarget) -> dg.AssetCheckResult:
    """Every index the migration files intend exists, valid, with exactly the intended definition."""
    problems, rows = [], []
    with target.connect() as conn:
        for build in _intended_indexes():
            current = index_lifecycle.state(conn, build)
            intended = index_lifecycle.canonical_definition(build.statement, build.schema)
            if current is None:
                verdict = "missing"
            elif not current.usable:
                verdict = "invalid"
            elif index_lifecycle.canonical_definition(current.definition, build.schema) != intended:
                verdict = f"different definition: {current.definition}"
            else:
                verdict = "ok"
            rows.append({"index": build.qualified_name, "verdict": verdict})
            if verdict != "ok":
                problems.append(f"{build.qualified_name} {verdict}")
    return dg.AssetCheckResult(passed=not problems, metadata={"indexes": _table(rows)},
                               description="; ".join(problems) or f"all {len(rows)} as intended")


@dg.asset_check(asset=rpc_functions, blocking=True)
@one_line_failures
def ledger_matches_files(target: PostgresTarget) -> dg.AssetCheckResult:
    """Every migration and function file is in the ledger as applied, with the file's current checksum."""
    settings = migrate.Settings.platform()
    files = migration_files.discover(settings.migrations_dir, settings.functions_dir)
    with target.connect() as conn:
        rows = ledger.read(conn)
    problems = []
    for f in files:
        row = rows.get(f.version)
        if row is None:
            problems.append(f"{f.label} not applied")
        elif row.outcome != "success":
            problems.append(f"{f.label} last run {row.outcome}: {row.error}")
        elif row.sha256 != f.sha256:
            problems.append(f"{f.label} changed since it was applied")
    return dg.AssetCheckResult(passed=not problems, metadata={"files": len(files), "ledger_rows": len(rows)},
                               description="; ".join(problems) or f"all {len(files)} files applied as they are")


@dg.asset_check(asset=rpc_functions, blocking=True)
@one_line_failures
def functions_have_fixed_search_path(target: PostgresTarget) -> dg.AssetCheckResult:
    """Every function in the application's schemas pins its search_path."""
    with target.connect() as conn:
        rows = conn.execute(sqlfiles.read("pgops/functions_search_path.sql"),  # type: ignore[arg-type]
                            {"schemas": APP_SCHEMAS}).fetchall()
    loose = [f"{r['schema']}.{r['name']}({r['arguments']})" for r in rows if not r["search_path"]]
    return dg.AssetCheckResult(passed=bool(rows) and not loose, metadata={"functions": _table(rows)},
                               description=("no function found in " + ", ".join(APP_SCHEMAS) if not rows else
                                            "without a fixed search_path: " + ", ".join(loose) if loose else
                                            f"all {len(rows)} pin their search_path"))


ROLLOUT_STEP_ASSETS = [backup, index_migrations, rls_policies, rpc_functions]
ROLLOUT_CHECKS = [no_invalid_indexes, intended_indexes_exist, ledger_matches_files, functions_have_fixed_search_path]
