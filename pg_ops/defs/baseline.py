"""baseline_performance: the benchmark suite before any change, and the RLS matrix before the rewrite."""

import dagster as dg

from pg_ops.defs.failures import one_line_failures
from pg_ops.defs.metadata import OWNERS, ROLLOUT_GROUP, results_table
from pg_ops.defs.preflight import preflight
from pg_ops.defs.resources import PostgresTarget
from pg_ops.engine.migrations import migrate
from pg_ops.engine.proof import benchmark, rls_matrix, suite


class SuiteConfig(dg.Config):
    executions: int = 200
    warmup: int = 6
    budget_s: float = 10.0  # per query: a slow baseline runs fewer times, and says so
    seed: str = "pg_ops"


@dg.asset(group_name=ROLLOUT_GROUP, kinds={"postgres"}, owners=OWNERS, deps=[preflight])
@one_line_failures
def baseline_performance(context: dg.AssetExecutionContext, target: PostgresTarget,
                         config: SuiteConfig) -> dg.MaterializeResult:
    """The suite measured before any change, and who may see and write what before the RLS rewrite."""
    plan = migrate.plan(target.db, migrate.Settings.platform())
    if not plan.pending:
        earlier = benchmark.latest(target.db, "baseline")
        note = "the baseline recorded earlier stands" if earlier else "no baseline was recorded before the rollout"
        context.log.info(f"no-op: the rollout is already applied, so a baseline measured now would not be one; {note}")
        return dg.MaterializeResult(metadata={"outcome": f"no-op: rollout already applied; {note}"})
    queries = suite.load(baseline=True)
    run = benchmark.run_suite(target.db, queries, "baseline", seed=config.seed, executions=config.executions,
                              warmup=config.warmup, budget_s=config.budget_s, log=context.log.info)
    benchmark.save(target.db, run)
    matrix_note = "kept (the RLS rewrite is already applied)"
    if any(f.step == "rls_policies" for f in plan.pending):
        rls_matrix.save(target.db, rls_matrix.take(target.db), rls_matrix.BEFORE_REWRITE)
        matrix_note = "recorded"
    return dg.MaterializeResult(metadata={"outcome": "measured", "run_id": run.run_id, "results": results_table(run),
                                          "rls_matrix": matrix_note})
