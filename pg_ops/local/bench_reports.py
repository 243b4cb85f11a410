"""`make bench`, daily-report part: a day of 2,880 snapshot ticks at 1,000 extra tables and 5,000
statements reported, and a 30-day backfill in one run, timed; and what the history costs per day.

The history is the bench database's own: the last real snapshot and the last real statement capture (taken
by the snapshot part of the bench, with the extra tables and statements in place), repeated with shifted
times over the 30 days before today, the statements' counters growing hour by hour. Ticking 86,400 times for
real would take hours and measure the same rows."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from psycopg import sql

from pg_ops.engine.db import Target, connection
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.paths import state_dir
from pg_ops.engine.reports import days

DAYS = 30
TICKS_PER_DAY = 2880  # every 30 s


def _history_bytes(conn: Any) -> dict[str, int]:
    row = conn.execute("select pg_total_relation_size('pgops.monitoring_snapshots') as snapshots, "
                       "pg_total_relation_size('pgops.statement_captures') as captures").fetchone()
    return {"snapshots": int(row["snapshots"]), "captures": int(row["captures"])}


def run(dsn: str) -> dict[str, Any]:
    target = Target(dsn=dsn)
    database = target.label
    last_day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    first_day = last_day - dt.timedelta(days=DAYS - 1)
    start = dt.datetime.combine(first_day, dt.time(0), tzinfo=dt.UTC)
    end = start + dt.timedelta(days=DAYS)
    with connection(target, purpose="bench reports", statement_timeout_ms=0) as conn:
        latest = conn.execute("select max(taken_at) as at from pgops.monitoring_snapshots where database = %s "
                              "and taken_at >= %s", (database, end)).fetchone()
        capture = conn.execute("select max(taken_at) as at from pgops.statement_captures where database = %s "
                               "and taken_at >= %s", (database, end)).fetchone()
        if not latest or latest["at"] is None or not capture or capture["at"] is None:
            raise PgOpsError("bench reports: no real snapshot and statement capture to repeat; the snapshot part of "
                             "the bench runs first")
        statements = conn.execute("select count(*) as n from pgops.statement_captures where database = %s and "
                                  "taken_at = %s", (database, capture["at"])).fetchone()
        for table in ("monitoring_snapshots", "statement_captures"):
            conn.execute(sql.SQL("delete from {} where database = %s and taken_at >= %s and taken_at < %s").format(
                sql.Identifier("pgops", table)), (database, start, end))
        conn.execute("vacuum pgops.monitoring_snapshots")
        conn.execute("vacuum pgops.statement_captures")
        before = _history_bytes(conn)
        began = time.perf_counter()
        conn.execute(
            "insert into pgops.monitoring_snapshots "
            "(database, taken_at, read_ms, views_read, views_failed, pushed, push_error, data) "
            "select s.database, %s + g * interval '30 seconds', s.read_ms, s.views_read, s.views_failed, s.pushed, "
            "s.push_error, s.data from pgops.monitoring_snapshots s, generate_series(0, %s - 1) g "
            "where s.database = %s and s.taken_at = %s", (start, DAYS * TICKS_PER_DAY, database, latest["at"]))
        conn.execute(
            "insert into pgops.statement_captures "
            "(database, taken_at, stats_reset, queryid, userid, username, query, calls, total_exec_ms, rows) "
            "select c.database, %s + h * interval '1 hour', c.stats_reset, c.queryid, c.userid, c.username, c.query, "
            "c.calls + h * (1 + abs(c.queryid) %% 7), c.total_exec_ms + h * (1 + abs(c.queryid) %% 7) * 0.5, "
            "c.rows + h from pgops.statement_captures c, generate_series(0, %s - 1) h "
            "where c.database = %s and c.taken_at = %s", (start, DAYS * 24, database, capture["at"]))
        filled_s = time.perf_counter() - began
        conn.execute("analyze pgops.monitoring_snapshots")
        conn.execute("analyze pgops.statement_captures")
        after = _history_bytes(conn)
    folder = state_dir() / "bench" / "reports"
    began = time.perf_counter()
    one = days.build_days(target, [last_day], folder)
    one_day_s = time.perf_counter() - began
    began = time.perf_counter()
    month = days.build_days(target, days.day_range(first_day, last_day, last_day + dt.timedelta(days=1)), folder)
    month_s = time.perf_counter() - began
    missing = [o.missing for o in one + month if o.missing]
    if missing:
        raise PgOpsError(f"bench reports: {missing[0]}")
    report = one[0].report
    assert report is not None
    return {
        "ticks_per_day": report.ticks, "statements_per_capture": int(statements["n"]) if statements else 0,
        "captures_per_day": report.statement_captures, "history_filled_s": round(filled_s, 1),
        "one_day_s": round(one_day_s, 2), "one_day_goal_s": 10,
        "backfill_days": DAYS, "backfill_s": round(month_s, 1), "backfill_goal_s": 120,
        "snapshot_bytes_per_day": (after["snapshots"] - before["snapshots"]) // DAYS,
        "capture_bytes_per_day": (after["captures"] - before["captures"]) // DAYS,
        "report_html_bytes": one[0].files.html.stat().st_size if one[0].files else 0,
    }
