"""index_migrations, rls_policies, rpc_functions: the rollout's SQL files, applied by the engine, and their checks."""

from typing import Any

import dagster as dg
import psycopg

from pg_ops.defs.backup import backup
from pg_ops.defs.failures import one_line_failures
from pg_ops.defs.metadata import OWNERS, ROLLOUT_GROUP, table
from pg_ops.defs.resources import PostgresTarget
from pg_ops.defs.rollback import names_rollback
from pg_ops.engine import sqlfiles
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.migrations import index_lifecycle, ledger, migrate
from pg_ops.engine.proof import rls_matrix

DDL_POOL = "pg_ddl"  # one DDL step at a time per instance (dagster.yaml sets the pool's limit)
APP_SCHEMAS = ["public", "private"]


class MigrationConfig(dg.Config):
    lock_timeout_ms: int = 500  # capped at half of deadlock_timeout
    ddl_attempts: int = 4
    build_attempts: int = 3
    runner_lock_wait_s: int = 60


def _settings(config: MigrationConfig) -> migrate.Settings:
    return migrate.Settings.platform(lock_timeout_ms=config.lock_timeout_ms, ddl_attempts=config.ddl_attempts,
                                     build_attempts=config.build_attempts,
                                     runner_lock_wait_s=float(config.runner_lock_wait_s))


def _apply_step(context: dg.AssetExecutionContext, target: PostgresTarget, config: MigrationConfig,
                step: str) -> tuple[migrate.Report, dict[str, Any]]:
    report = migrate.apply(target.db, _settings(config), step=step, log=context.log.info)
    if not report.applied:
        context.log.info(f"no-op: every {step} file was already applied ({len(report.skipped)} files)")
    metadata: dict[str, Any] = {
        "outcome": f"applied {len(report.applied)} file(s)" if report.applied else "no-op: already applied",
        "applied": table([{"file": a.label, "duration_ms": a.duration_ms, "statements_ms": a.statements_ms,
                            "result": a.detail} for a in report.applied]),
        "already_applied": len(report.skipped),
        "wall_s": round(report.seconds, 2),
        "statements_s": round(report.statements_ms / 1000, 2),
        "ledger": table(ledger.as_records(report.ledger)),
    }
    return report, metadata


@dg.asset(group_name=ROLLOUT_GROUP, kinds={"postgres"}, owners=OWNERS, deps=[backup], pool=DDL_POOL)
@one_line_failures
def index_migrations(context: dg.AssetExecutionContext, target: PostgresTarget,
                     config: MigrationConfig) -> dg.MaterializeResult:
    """Every planned index, built CONCURRENTLY (writes never blocked), valid and ready."""
    _, metadata = _apply_step(context, target, config, "index_migrations")
    builds = migrate.intended_indexes(migrate.Settings.platform())
    with target.connect() as conn:
        sizes = [{"index": b.qualified_name, "table": b.table,
                  "size": f"{s.size_bytes / 2**20:,.1f} MiB" if s else "missing",
                  "valid": bool(s and s.usable)}
                 for b in builds for s in [index_lifecycle.state(conn, b)]]
    metadata["indexes"] = table(sizes)
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(group_name=ROLLOUT_GROUP, kinds={"postgres"}, owners=OWNERS, deps=["policy_lint"], pool=DDL_POOL)
@one_line_failures
def rls_policies(context: dg.AssetExecutionContext, target: PostgresTarget,
                 config: MigrationConfig) -> dg.MaterializeResult:
    """Row-level security rewritten for speed, in one transaction, with the same allow/deny behaviour: who
    reads which rows is taken at one snapshot just before and just after the rewrite, so rows the
    application writes meanwhile cannot make them differ (rls_unchanged compares them)."""
    pending = migrate.plan(target.db, _settings(config), step="rls_policies").pending
    if not any(f.policy_tables for f in pending):
        _, metadata = _apply_step(context, target, config, "rls_policies")
        metadata["reads_at_one_snapshot"] = "not taken: no policy file was pending"
    else:
        with rls_matrix.frozen(target.db) as snapshot:
            before, why = _reads(target, snapshot)
            _, metadata = _apply_step(context, target, config, "rls_policies")
            after, why = _reads(target, snapshot) if before is not None else (None, why)
        if before is None or after is None:
            metadata["reads_at_one_snapshot"] = f"not taken: {why}"
            context.log.warning(f"who reads which rows was not taken around the rewrite: {why}; rls_unchanged "
                                "compares with the baseline's matrix instead")
        else:
            rls_matrix.save(target.db, before, rls_matrix.READS_BEFORE)
            rls_matrix.save(target.db, after, rls_matrix.READS_AFTER)
            found = rls_matrix.differences(before, after)
            metadata["reads_at_one_snapshot"] = "; ".join(found[:3]) or f"equal ({len(before)} users)"
    with target.connect() as conn:
        metadata["policies"] = table(conn.execute(sqlfiles.read("pgops/policies.sql")).fetchall())
    return dg.MaterializeResult(metadata=metadata)


def _reads(target: PostgresTarget, snapshot: str) -> tuple[rls_matrix.Matrix | None, str]:
    """The matrix's reads at `snapshot`, or why not (a database without the platform's users, a timeout):
    the rewrite goes on either way, and rls_unchanged falls back to the baseline's matrix."""
    try:
        return rls_matrix.take(target.db, snapshot=snapshot, reads_only=True), ""
    except (psycopg.Error, PgOpsError) as exc:
        return None, (str(exc).strip().splitlines() or [type(exc).__name__])[0]


@dg.asset(group_name=ROLLOUT_GROUP, kinds={"postgres"}, owners=OWNERS, deps=[rls_policies], pool=DDL_POOL)
@one_line_failures
def rpc_functions(context: dg.AssetExecutionContext, target: PostgresTarget,
                  config: MigrationConfig) -> dg.MaterializeResult:
    """The rollups and search documents (filled online) and the analytics and search functions, each with a
    fixed search_path."""
    _, metadata = _apply_step(context, target, config, "rpc_functions")
    with target.connect() as conn:
        metadata["functions"] = table(conn.execute(sqlfiles.read("pgops/functions_search_path.sql"),
                                                    {"schemas": APP_SCHEMAS}).fetchall())
    return dg.MaterializeResult(metadata=metadata)


@dg.asset_check(asset=index_migrations, blocking=True)
@one_line_failures
@names_rollback
def no_invalid_indexes(context: dg.AssetCheckExecutionContext, target: PostgresTarget) -> dg.AssetCheckResult:
    """No index anywhere in the database is INVALID or not ready (a failed concurrent build leaves one)."""
    with target.connect() as conn:
        rows = conn.execute(sqlfiles.read("pgops/invalid_indexes.sql")).fetchall()
    return dg.AssetCheckResult(
        passed=not rows, metadata={"invalid": table(rows), "count": len(rows)},
        description=("none" if not rows else
                     f"{len(rows)} invalid: " + ", ".join(f"{r['schema']}.{r['index']}" for r in rows[:5])))


@dg.asset_check(asset=index_migrations, blocking=True)
@one_line_failures
@names_rollback
def intended_indexes_exist(context: dg.AssetCheckExecutionContext, target: PostgresTarget) -> dg.AssetCheckResult:
    """Every index the migration files intend exists, valid, with exactly the intended definition."""
    with target.connect() as conn:
        found = index_lifecycle.verdicts(conn, migrate.intended_indexes(migrate.Settings.platform()))
    problems = [f"{name} {verdict}" for name, verdict in found if verdict != "ok"]
    return dg.AssetCheckResult(passed=not problems,
                               metadata={"indexes": table([{"index": n, "verdict": v} for n, v in found])},
                               description="; ".join(problems) or f"all {len(found)} as intended")


@dg.asset_check(asset=rpc_functions, blocking=True)
@one_line_failures
@names_rollback
def ledger_matches_files(context: dg.AssetCheckExecutionContext, target: PostgresTarget) -> dg.AssetCheckResult:
    """Every migration and function file this server can take is in the ledger as applied, with the file's
    current checksum (a file for an extension the server does not offer is not expected)."""
    with target.connect() as conn:
        rows = ledger.read(conn)
        files = migrate.applicable(migrate.all_files(migrate.Settings.platform()), migrate.available_extensions(conn))
    problems = ledger.mismatches(files, rows)
    return dg.AssetCheckResult(passed=not problems, metadata={"files": len(files), "ledger_rows": len(rows)},
                               description="; ".join(problems) or f"all {len(files)} files applied as they are")


@dg.asset_check(asset=rpc_functions, blocking=True)
@one_line_failures
@names_rollback
def functions_have_fixed_search_path(context: dg.AssetCheckExecutionContext,
                                     target: PostgresTarget) -> dg.AssetCheckResult:
    """Every function in the application's schemas pins its search_path."""
    with target.connect() as conn:
        rows = conn.execute(sqlfiles.read("pgops/functions_search_path.sql"),
                            {"schemas": APP_SCHEMAS}).fetchall()
    loose = [f"{r['schema']}.{r['name']}({r['arguments']})" for r in rows if not r["search_path"]]
    return dg.AssetCheckResult(passed=bool(rows) and not loose, metadata={"functions": table(rows)},
                               description=("no function found in " + ", ".join(APP_SCHEMAS) if not rows else
                                            "without a fixed search_path: " + ", ".join(loose) if loose else
                                            f"all {len(rows)} pin their search_path"))


MIGRATION_ASSETS = [index_migrations, rls_policies, rpc_functions]
MIGRATION_CHECKS = [no_invalid_indexes, intended_indexes_exist, ledger_matches_files, functions_have_fixed_search_path]
