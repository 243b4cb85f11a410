"""Daily reports over a range of days (a backfill): each day built, written and kept; a day without
snapshots is said, not fatal to the others."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pg_ops.engine import sqlfiles
from pg_ops.engine.db import Target, connection
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.paths import state_dir
from pg_ops.engine.reports import daily, render

RETENTION_DAYS = 400
FOLDER_ENV = "PG_OPS_REPORTS_DIR"
Log = Callable[[str], None]


@dataclass
class DayOutcome:
    day: dt.date
    report: daily.DailyReport | None = None
    files: render.ReportFiles | None = None
    missing: str = ""  # why there is no report (no snapshots that day)


def reports_folder(configured: str = "") -> Path:
    """Where reports go: the given folder, else PG_OPS_REPORTS_DIR, else <state dir>/reports."""
    return Path(configured or os.environ.get(FOLDER_ENV, "") or state_dir() / "reports")


def parse_day(text: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise PgOpsError(f"{name} {text!r} is not a day; give YYYY-MM-DD (UTC)") from None


def day_range(first: dt.date, last: dt.date, today: dt.date) -> list[dt.date]:
    """Every day from `first` to `last`, both included; one line when the range is reversed or not over."""
    if first > last:
        raise PgOpsError(f"the range {first} to {last} is reversed; give the earlier day first")
    if last >= today:
        raise PgOpsError(f"{last} is not over yet (today is {today} UTC); the last day a report can cover is "
                         f"{today - dt.timedelta(days=1)}")
    if (last - first).days >= 400:
        raise PgOpsError(f"the range {first} to {last} has {(last - first).days + 1} days; at most 400 at once")
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def build_days(target: Target, days: list[dt.date], folder: Path, interval_s: float = 30.0,
               now: dt.datetime | None = None, retention_days: int = RETENTION_DAYS,
               log: Log = lambda _: None) -> list[DayOutcome]:
    database = target.label
    outcomes = []
    with connection(target, purpose="daily report") as conn:
        conn.execute(sqlfiles.read("reports/daily_reports.sql"))
        known = conn.execute("select to_regclass('pgops.monitoring_snapshots') is not null as ready").fetchone()
        if not known or not known["ready"]:
            raise PgOpsError(f"{database} has no snapshot history (pgops.monitoring_snapshots); run the rollout's "
                             "monitoring_schema and the monitoring_snapshot sensor first")
        for day in days:
            try:
                report = daily.build(conn, database, day, interval_s=interval_s, now=now)
            except PgOpsError as exc:
                log(str(exc))
                outcomes.append(DayOutcome(day=day, missing=str(exc)))
                continue
            files = render.write(report, folder)
            conn.execute(sqlfiles.read("reports/daily_report_upsert.sql"),
                         {"database": database, "day": day, "coverage": report.coverage, "ticks": report.ticks,
                          "summary": json.dumps(report.summary(), default=str)})
            log(f"{day}: {report.ticks} snapshots ({100 * report.coverage:.0f} % coverage), "
                f"{len(report.statements)} top statements -> {files.html}")
            outcomes.append(DayOutcome(day=day, report=report, files=files))
        conn.execute("delete from pgops.daily_reports where database = %s and day < %s::date - %s",
                     (database, (now or dt.datetime.now(dt.UTC)).date(), retention_days))
    return outcomes
