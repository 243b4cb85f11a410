"""rollback_job: the rollout's downs back to a version, from the Dagster UI; and the rollback command named in
every failed blocking check of the rollout."""

import datetime as dt
import inspect
from collections.abc import Callable
from functools import wraps
from typing import Any

import dagster as dg

from pg_ops.defs.failures import one_line_failures
from pg_ops.defs.metadata import table
from pg_ops.defs.resources import PostgresTarget, target_label_from_env
from pg_ops.defs.runs import DATABASE_TAG
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.migrations import ledger, migrate, rollback


class RollbackConfig(dg.Config):
    to_version: str  # "0" undoes the whole rollout; "009" keeps 001..009
    plan_only: bool = False  # list what would be undone; change nothing
    compare_matrix: bool = False  # after a policy down, compare the allow/deny matrix too (slow on big tables)
    lock_timeout_ms: int = 500
    runner_lock_wait_s: int = 60


@dg.op
@one_line_failures
def roll_back(context: dg.OpExecutionContext, target: PostgresTarget, config: RollbackConfig) -> dg.Output[str]:
    """Undo every applied file after `to_version`, newest first, under the one-runner-per-database lock."""
    settings = migrate.Settings.platform(lock_timeout_ms=config.lock_timeout_ms,
                                         runner_lock_wait_s=float(config.runner_lock_wait_s))
    if config.plan_only:
        planned = rollback.plan(target.db, settings, config.to_version)
        for note in planned.notes:
            context.log.warning(note)
        return dg.Output(planned.to_version, metadata={
            "outcome": f"plan: {len(planned.steps)} file(s) to roll back to version {planned.to_version}",
            "would_undo": table([{"file": f.label, "how": planned.how[f.version]} for f in planned.steps])})
    report = rollback.rollback(target.db, settings, config.to_version, log=context.log.info,
                               compare_matrix=config.compare_matrix)
    return dg.Output(report.to_version, metadata={
        "outcome": f"rolled back {len(report.undone)} file(s) to version {report.to_version}",
        "undone": table([{"file": u.label, "duration_ms": u.duration_ms, "result": u.detail} for u in report.undone]),
        "wall_s": round(report.seconds, 2),
        "rls_matrix": report.rls_matrix,
        "ledger": table(ledger.as_records(report.ledger)),
    })


@dg.job(tags={DATABASE_TAG: target_label_from_env()},
        description="Roll the rollout back to a version (config to_version; 0 undoes it all): each file's down, "
                    "newest first, proven to restore the policies; the same one-runner lock as the rollout.")
def rollback_job() -> None:
    roll_back()


def _run_started(context: dg.AssetCheckExecutionContext) -> dt.datetime:
    stats = context.instance.get_run_stats(context.run.run_id)
    if stats and stats.start_time:
        return dt.datetime.fromtimestamp(stats.start_time, dt.UTC)
    return dt.datetime.now(dt.UTC)  # not started yet by the instance's account: nothing of this run to undo


def names_rollback(check: Callable[..., dg.AssetCheckResult]) -> Callable[..., dg.AssetCheckResult]:
    """A failed blocking check of the rollout ends its message with the command that undoes this run."""

    @wraps(check)
    def wrapper(*args: Any, **kwargs: Any) -> dg.AssetCheckResult:
        result = check(*args, **kwargs)
        if result.passed:
            return result
        given = inspect.signature(check).bind(*args, **kwargs).arguments
        context, target = given["context"], given["target"]
        try:
            with target.connect("rollback hint") as conn:
                advice = rollback.hint(ledger.read(conn), _run_started(context))
        except PgOpsError as exc:  # the check's own verdict matters more than the advice
            advice = f"the rollback command could not be worked out ({exc})"
        return result._replace(description=f"{result.description or 'failed'}; {advice}")

    return wrapper
