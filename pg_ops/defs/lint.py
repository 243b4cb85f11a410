"""policy_lint (before the RLS rewrite) and the nightly lint check: pg-ops lint in the rollout and after it."""

from typing import Any

import dagster as dg

from pg_ops.defs.failures import one_line_failures
from pg_ops.defs.metadata import OWNERS, ROLLOUT_GROUP, table
from pg_ops.defs.resources import PostgresTarget, PushgatewayTarget
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.lint import linter, rules

# a plan fragment in a table cell: enough to see the Filter, the rest is in pg-ops lint's output
EVIDENCE_CHARS = 300


def _findings_table(report: linter.LintReport) -> dg.MetadataValue:
    return table([{"severity": "accepted" if f.accepted else f.severity, "rule": f.rule, "object": f.object,
                   "why": f.why, "fix": f.fix, "plan": (f.evidence or "")[:EVIDENCE_CHARS]} for f in report.findings])


def _push(context: Any, pushgateway: PushgatewayTarget, target: PostgresTarget, report: linter.LintReport) -> str:
    if not pushgateway.url:
        return "no Pushgateway configured"
    try:
        linter.push(pushgateway.url, target.label, report, pushgateway.timeout_s)
        return f"pushed to {pushgateway.url}"
    except PgOpsError as exc:  # monitoring being down must not fail the lint
        context.log.warning(str(exc))
        return f"not pushed: {exc}"


def _metadata(report: linter.LintReport, pushed: str) -> dict[str, Any]:
    per_rule = {f"{rule} ({category}, {severity})": n for (rule, category, severity), n in report.counts().items()}
    return {"summary": report.summary(), "findings": _findings_table(report),
            "errors": report.count(severity=rules.ERROR), "warnings": report.count(severity=rules.WARN),
            "performance": report.count(rules.PERFORMANCE), "security": report.count(rules.SECURITY),
            "per_rule": dg.MetadataValue.json(per_rule), "notes": "; ".join(report.notes) or "none",
            "seconds": round(report.seconds, 3), "pushgateway": pushed}


@dg.asset(group_name=ROLLOUT_GROUP, kinds={"postgres"}, owners=OWNERS, deps=["index_migrations"])
@one_line_failures
def policy_lint(context: dg.AssetExecutionContext, target: PostgresTarget,
                pushgateway: PushgatewayTarget) -> dg.MaterializeResult:
    """pg-ops lint before the RLS rewrite: which policies are slow and why (with the plan as authenticated that
    shows it), which objects are unsafe. Read-only; it never stops the rollout."""
    report = linter.run(target.db)
    context.log.info(report.summary())
    return dg.MaterializeResult(metadata=_metadata(report, _push(context, pushgateway, target, report)))


@dg.asset_check(asset="validation", blocking=False)
@one_line_failures
def lint_clean(context: dg.AssetCheckExecutionContext, target: PostgresTarget,
               pushgateway: PushgatewayTarget) -> dg.AssetCheckResult:
    """No open lint finding of warning or error severity (the nightly validation runs it too). A WARN check:
    a finding is for a DBA to read, not a reason to stop anything."""
    report = linter.run(target.db)
    serious = [f for f in report.open_findings if f.severity in (rules.ERROR, rules.WARN)]
    description = report.summary() if not serious else (
        f"{len(serious)} open findings: " + "; ".join(f"{f.rule} {f.object}" for f in serious[:5])
        + ("; ..." if len(serious) > 5 else ""))
    return dg.AssetCheckResult(passed=not serious, severity=dg.AssetCheckSeverity.WARN, description=description,
                               metadata=_metadata(report, _push(context, pushgateway, target, report)))
