"""validation: the suite after the rollout, side by side with the baseline, and the checks that prove it."""

from typing import Any

import dagster as dg

from pg_ops.defs.baseline import SuiteConfig
from pg_ops.defs.failures import one_line_failures
from pg_ops.defs.metadata import OWNERS, ROLLOUT_GROUP
from pg_ops.defs.resources import PostgresTarget, PushgatewayTarget
from pg_ops.defs.rollback import names_rollback
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.monitoring import push
from pg_ops.engine.proof import benchmark, search_ranking, suite, verdicts


class ValidationConfig(SuiteConfig):
    targets_ms: str = ""  # "driver_orders=2,analytics_dashboard=25" over the files' target_ms
    # A regression is p95 > before * (1 + tolerance) + slack. Millisecond queries jitter up to 2x on a busy
    # machine; this still catches a lost index (1 ms -> 10 ms) without stopping a rollout for noise.
    regression_tolerance: float = 1.0
    regression_slack_ms: float = 5.0


@dg.asset(group_name=ROLLOUT_GROUP, kinds={"postgres"}, owners=OWNERS, deps=["rpc_functions"])
@one_line_failures
def validation(context: dg.AssetExecutionContext, target: PostgresTarget, pushgateway: PushgatewayTarget,
               config: ValidationConfig) -> dg.MaterializeResult:
    """The suite measured after the rollout, side by side with the baseline: speed-ups, plans, a summary."""
    queries = suite.load()
    targets = verdicts.parse_targets(config.targets_ms, queries)  # a bad target stops here, before any run
    run = benchmark.run_suite(target.db, queries, "validation", seed=config.seed, executions=config.executions,
                              warmup=config.warmup, budget_s=config.budget_s, log=context.log.info)
    benchmark.save(target.db, run)
    before = benchmark.latest(target.db, "baseline")
    rows, table_md = verdicts.comparison(before, run)
    pushed = "no Pushgateway configured"
    if pushgateway.url:
        saved = benchmark.latest(target.db, "validation")
        passed = (verdicts.targets_met(saved, targets).passed and verdicts.plans_use_indexes(saved, queries).passed)
        try:
            push.push_validation(pushgateway.url, target.label, run, passed, pushgateway.timeout_s)
            pushed = f"pushed to {pushgateway.url}"
        except PgOpsError as exc:  # monitoring being down must not fail the validation itself
            context.log.warning(str(exc))
            pushed = f"not pushed: {exc}"
    plans = "\n\n".join(f"**{r.name}**\n```\n" + "\n".join(r.plan_nodes[:12]) + "\n```" for r in run.results)
    summary = (f"Validation of {target.label}: {sum(1 for r in run.results if not r.skipped)} queries measured"
               + ("" if before else " (no baseline recorded: speed-ups unknown)") + ".\n\n" + table_md)
    return dg.MaterializeResult(metadata={
        "run_id": run.run_id,
        "comparison": dg.MetadataValue.table(
            records=[dg.TableRecord(r) for r in rows],
            schema=dg.TableSchema(columns=[dg.TableColumn(c, "string") for c in rows[0]] if rows else [])),
        "plans": dg.MetadataValue.md(plans),
        "summary": dg.MetadataValue.md(summary),
        "targets_ms": dg.MetadataValue.json(targets),
        "regression_rule": dg.MetadataValue.json({"tolerance": config.regression_tolerance,
                                                  "slack_ms": config.regression_slack_ms}),
        "pushgateway": pushed,
    })


def _result(verdict: verdicts.Verdict, name: str) -> dg.AssetCheckResult:
    if verdict.skipped:
        # Nothing to judge is not a pass: a failed check of WARN severity, with the reason.
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN,
                                   description=verdict.description, metadata={"skipped": verdict.skipped})
    records = [dg.TableRecord({k: str(v) for k, v in row.items()}) for row in verdict.rows]
    metadata: dict[str, Any] = {}
    if verdict.rows:
        metadata[name] = dg.MetadataValue.table(records=records, schema=dg.TableSchema(
            columns=[dg.TableColumn(c, "string") for c in verdict.rows[0]]))
    return dg.AssetCheckResult(passed=verdict.passed, description=verdict.description, metadata=metadata)


@dg.asset_check(asset=validation, blocking=True)
@one_line_failures
@names_rollback
def queries_meet_targets(context: dg.AssetCheckExecutionContext, target: PostgresTarget) -> dg.AssetCheckResult:
    """Every query's p95 is under its target: the files' target_ms, or the validation config's targets_ms."""
    recorded = _recorded(context, "targets_ms")
    targets = dict(recorded) if recorded is not None else verdicts.parse_targets("", suite.load())
    return _result(verdicts.targets_met(benchmark.latest(target.db, "validation"), targets), "targets")


@dg.asset_check(asset=validation, blocking=True)
@one_line_failures
@names_rollback
def plans_use_expected_indexes(context: dg.AssetCheckExecutionContext, target: PostgresTarget) -> dg.AssetCheckResult:
    """Each query's plan uses the index built for it, and nothing scans orders or products whole."""
    return _result(verdicts.plans_use_indexes(benchmark.latest(target.db, "validation"), suite.load()), "plans")


@dg.asset_check(asset=validation, blocking=True)
@one_line_failures
@names_rollback
def functions_match_pandas(context: dg.AssetCheckExecutionContext, target: PostgresTarget) -> dg.AssetCheckResult:
    """The four analytics functions equal a pandas computation over the raw rows (admin and owner), over whole
    days, rolling windows, a window inside one day and one across midnight."""
    return _result(verdicts.functions_match_reference(target.db), "cases")


@dg.asset_check(asset=validation, blocking=True)
@one_line_failures
@names_rollback
def search_ranking_matches_sql(context: dg.AssetCheckExecutionContext, target: PostgresTarget) -> dg.AssetCheckResult:
    """For terms of every search class, search_products' top 20 equal its ranking computed in plain SQL over
    all matches, with no index."""
    return _result(search_ranking.verify(target.db, suite.load()), "searches")


@dg.asset_check(asset=validation, blocking=True)
@one_line_failures
@names_rollback
def rls_unchanged(context: dg.AssetCheckExecutionContext, target: PostgresTarget) -> dg.AssetCheckResult:
    """Who may see and write what is what it was before the RLS rewrite (reads compared at one snapshot
    around the rewrite, so the application's writes meanwhile cannot make them differ)."""
    return _result(verdicts.rls_unchanged(target.db), "")


@dg.asset_check(asset=validation, blocking=True)
@one_line_failures
@names_rollback
def no_regression(context: dg.AssetCheckExecutionContext, target: PostgresTarget) -> dg.AssetCheckResult:
    """No query's p95 got worse than the previous validation's beyond the rule the validation recorded."""
    rule = _recorded(context, "regression_rule") or {"tolerance": ValidationConfig().regression_tolerance,
                                                     "slack_ms": ValidationConfig().regression_slack_ms}
    now = benchmark.latest(target.db, "validation")
    run_id = str(next(iter(now.values()))["run_id"]) if now else None
    earlier = benchmark.latest(target.db, "validation", before_run=run_id)
    return _result(verdicts.no_regression(now, earlier, tolerance=float(rule["tolerance"]),
                                          slack_ms=float(rule["slack_ms"])), "queries")


def _recorded(context: dg.AssetCheckExecutionContext, key: str) -> Any:
    """A value the latest validation materialization recorded in its metadata (its config, as used)."""
    event = context.instance.get_latest_materialization_event(validation.key)
    value = event.asset_materialization.metadata.get(key) if event and event.asset_materialization else None
    return None if value is None else value.value


VALIDATION_CHECKS = [queries_meet_targets, plans_use_expected_indexes, functions_match_pandas,
                     search_ranking_matches_sql, rls_unchanged, no_regression]
