"""daily_performance_report: one report per UTC day of the target, partitioned by day, backfilled in one run
over any range, and its schedule, every morning for the day before; rollout_report, the rollout's page."""

import base64
import datetime as dt
import json
import os
import warnings

import dagster as dg

from pg_ops.defs.failures import one_line_failures
from pg_ops.defs.metadata import OWNERS, ROLLOUT_GROUP, table
from pg_ops.defs.resources import PostgresTarget
from pg_ops.engine.reports import days, rollout

# BackfillPolicy is beta in Dagster 1.13, and single_run is what a range in one run needs; its warning would
# be a second line on every `pg-ops` command's stderr.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)

REPORTS_GROUP = "reports"
START_ENV = "PG_OPS_REPORTS_START"
# A typo here is one line when the code location loads, not a traceback from Dagster's date parser.
daily_partitions = dg.DailyPartitionsDefinition(
    start_date=days.parse_day(os.environ.get(START_ENV, "") or "2026-11-01", START_ENV).isoformat())


class DailyReportConfig(dg.Config):
    folder: str = ""  # default PG_OPS_REPORTS_DIR, else <state dir>/reports
    snapshot_interval_s: float = 30.0  # the monitoring_snapshot sensor's interval: a day's expected ticks


@dg.asset(
    group_name=REPORTS_GROUP, kinds={"postgres", "html"}, owners=OWNERS, partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[dg.AssetCheckSpec("day_has_snapshots", asset="daily_performance_report",
                                   description="every day of the run had monitoring snapshots to report on")],
)
@one_line_failures
def daily_performance_report(context: dg.AssetExecutionContext, target: PostgresTarget,
                             config: DailyReportConfig) -> dg.MaterializeResult:
    """A self-contained HTML page per day (plots embedded) and its PNGs, from the snapshot history, the hourly
    statement captures and the validations; the day's aggregates kept in pgops.daily_reports."""
    wanted = [dt.date.fromisoformat(key) for key in context.partition_keys]
    outcomes = days.build_days(target.db, days.day_range(wanted[0], wanted[-1], dt.datetime.now(dt.UTC).date()),
                               days.reports_folder(config.folder), interval_s=config.snapshot_interval_s,
                               log=context.log.info)
    missing = [o for o in outcomes if o.missing]
    built = [o for o in outcomes if o.report is not None]
    metadata: dict[str, object] = {
        "days": table([{"day": o.day.isoformat(), "coverage_pct": round(100 * o.report.coverage, 1) if o.report else 0,
                        "top_statement": o.report.statements[0]["query"][:60] if o.report and o.report.statements
                        else "", "html": str(o.files.html) if o.files else o.missing} for o in outcomes]),
        "reports_built": len(built), "days_without_snapshots": len(missing),
    }
    if built and built[-1].report is not None:
        metadata["summary"] = dg.MetadataValue.json(json.loads(json.dumps(built[-1].report.summary(), default=str)))
    last_files = built[-1].files if built else None
    if last_files is not None:
        metadata["report"] = dg.MetadataValue.path(str(last_files.html))
        small = last_files.pngs.get("connections") or next(iter(last_files.pngs.values()), None)
        if small is not None:  # small: it lives in the event log
            encoded = base64.b64encode(small.read_bytes()).decode()
            metadata["plot"] = dg.MetadataValue.md(f"![{built[-1].day}](data:image/png;base64,{encoded})")
    return dg.MaterializeResult(
        metadata=metadata,  # type: ignore[arg-type]
        check_results=[dg.AssetCheckResult(
            check_name="day_has_snapshots", passed=not missing, severity=dg.AssetCheckSeverity.WARN,
            description="; ".join(o.missing for o in missing) or f"{len(built)} day(s) reported")])


daily_report_job = dg.define_asset_job("daily_report_job", selection=[daily_performance_report])

@dg.schedule(
    name="daily_report_schedule", job=daily_report_job, cron_schedule="0 6 * * *", execution_timezone="UTC",
    # Off until a target is configured; then every morning at 06:00 UTC for the day before.
    default_status=dg.DefaultScheduleStatus.RUNNING if os.environ.get("PG_OPS_DSN")
    else dg.DefaultScheduleStatus.STOPPED,
    description="Every morning at 06:00 UTC: daily_performance_report for the day before.",
)
def daily_report_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day = (context.scheduled_execution_time.astimezone(dt.UTC) - dt.timedelta(days=1)).date().isoformat()
    return dg.RunRequest(run_key=day, partition_key=day)


class RolloutReportConfig(dg.Config):
    folder: str = ""  # default PG_OPS_REPORTS_DIR, else <state dir>/reports


@dg.asset(group_name=ROLLOUT_GROUP, kinds={"html"}, owners=OWNERS, deps=["validation"])
@one_line_failures
def rollout_report(context: dg.AssetExecutionContext, target: PostgresTarget,
                   config: RolloutReportConfig) -> dg.MaterializeResult:
    """One HTML page for the team the morning after: before/after per query with a p95 bar chart (log
    scale), the indexes added with their sizes, each step's duration, the targets met."""
    report = rollout.build(target.db)
    page = rollout.write(report, days.reports_folder(config.folder))
    context.log.info(f"rollout report: {page}")
    return dg.MaterializeResult(metadata={
        "report": dg.MetadataValue.path(str(page)),
        "targets_met": f"{report.targets_met} of {len(report.queries)}",
        "indexes_added": len(report.indexes),
        "index_bytes": sum(int(i["bytes"]) for i in report.indexes),
        "steps": table(report.steps),
    })
