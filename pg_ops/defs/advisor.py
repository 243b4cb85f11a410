"""index_advisor: index advice proven by measurement (the engine's advisor), launched from the UI."""

import dagster as dg

from pg_ops.defs.failures import one_line_failures
from pg_ops.defs.metadata import OWNERS, table
from pg_ops.defs.migrations import DDL_POOL
from pg_ops.defs.resources import PostgresTarget
from pg_ops.engine.advisor import advise

ADVICE_GROUP = "advice"


class AdvisorConfig(dg.Config):
    margin: float = 0.2  # each query an index was meant for must be this much faster (p95) to keep it
    min_gain_ms: float = 0.5  # and by at least this many milliseconds
    write_limit: float = 1.5  # the app's writes to the table may get at most this much slower
    min_estimated_gain: float = 0.5  # HypoPG: build only what cuts a query's plan cost by this share
    max_indexes: int = 3
    executions: int = 100
    write_window_s: float = 30.0  # how long the app's writes are watched before and after each build
    plan_only: bool = False  # estimate only: build nothing


@dg.asset(group_name=ADVICE_GROUP, kinds={"postgres"}, owners=OWNERS, deps=["validation"], pool=DDL_POOL)
@one_line_failures
def index_advisor(context: dg.AssetExecutionContext, target: PostgresTarget,
                  config: AdvisorConfig) -> dg.MaterializeResult:
    """Candidate indexes from the app's statements, weighed with HypoPG as the real role; the best few built
    concurrently and kept only if the queries they were meant for got faster and the app's writes did not get
    slower beyond the limits; the rest dropped. Every decision is in pgops.index_advice."""
    settings = advise.Settings(margin=config.margin, min_gain_ms=config.min_gain_ms, write_limit=config.write_limit,
                               min_estimated_gain=config.min_estimated_gain, max_indexes=config.max_indexes,
                               executions=config.executions, write_window_s=config.write_window_s,
                               plan_only=config.plan_only)
    advice = advise.run(target.db, settings, log=context.log.info)
    estimates = [{"index": e.candidate.label, "for_queries": ", ".join(e.query_labels()), "planted": e.planted,
                  "measured": e.measurable,
                  "cost_before": round(e.cost_before, 1), "cost_after": round(e.cost_after, 1),
                  "estimated_gain": f"{e.gain:.0%}"} for e in advice.estimates]
    decisions = [{"index": d.estimate.candidate.name, "decision": d.decision, "reason": d.reason,
                  "write_ms_before": d.write_before, "write_ms_after": d.write_after} for d in advice.decisions]
    return dg.MaterializeResult(metadata={
        "run_id": advice.run_id, "candidates": advice.candidates, "estimates": table(estimates),
        "decisions": table(decisions), "kept": sum(1 for d in advice.decisions if d.decision == "kept"),
        "dropped": sum(1 for d in advice.decisions if d.decision != "kept"),
        "plan_only": config.plan_only, "seconds": round(advice.seconds, 1),
        "notes": "; ".join(advice.notes) or "none"})
