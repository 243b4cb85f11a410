"""The daily performance report of one database and one UTC day, from pg_ops's own records: the snapshot
history (connections, cache, sizes, tables, indexes), the hourly statement captures (per-statement deltas,
correct across a pg_stat_statements reset or a server restart) and the validations (the suite's p95 and its
30-day trend)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pg_ops.engine import sqlfiles
from pg_ops.engine.db import Connection
from pg_ops.engine.errors import PgOpsError

TOP_STATEMENTS = 20
WORSE_FACTOR = 2.0
TREND_DAYS = 30


@dataclass
class DailyReport:
    database: str
    day: dt.date
    ticks: int
    expected_ticks: int
    statements: list[dict[str, Any]] = field(default_factory=list)  # the day's top by total time
    new_statements: list[dict[str, Any]] = field(default_factory=list)
    worse_statements: list[dict[str, Any]] = field(default_factory=list)
    statement_captures: int = 0
    connections: dict[str, float] = field(default_factory=dict)
    connections_by_tick: list[dict[str, Any]] = field(default_factory=list)
    size_by_tick: list[tuple[dt.datetime, int]] = field(default_factory=list)
    cache_hit_ratio: float | None = None
    database_bytes_start: int | None = None
    database_bytes_end: int | None = None
    largest_tables: list[dict[str, Any]] = field(default_factory=list)
    dead_tuples: list[dict[str, Any]] = field(default_factory=list)
    unused_indexes: list[dict[str, Any]] = field(default_factory=list)
    invalid_indexes: list[dict[str, Any]] = field(default_factory=list)
    suite_p95: dict[str, float] = field(default_factory=dict)  # query -> that day's p95 (ms)
    suite_trend: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # query -> [(day, p95)]

    @property
    def coverage(self) -> float:
        return min(1.0, self.ticks / self.expected_ticks) if self.expected_ticks else 0.0

    @property
    def growth_bytes(self) -> int | None:
        if self.database_bytes_start is None or self.database_bytes_end is None:
            return None
        return self.database_bytes_end - self.database_bytes_start

    def summary(self) -> dict[str, Any]:
        """The numbers kept in pgops.daily_reports and shown in the asset's metadata."""
        return {"coverage": round(self.coverage, 4), "ticks": self.ticks, "expected_ticks": self.expected_ticks,
                "connections": self.connections, "cache_hit_ratio": self.cache_hit_ratio,
                "database_bytes_end": self.database_bytes_end, "growth_bytes": self.growth_bytes,
                "top_statement_ms": self.statements[0]["total_ms"] if self.statements else None,
                "new_statements": len(self.new_statements), "worse_statements": len(self.worse_statements),
                "unused_indexes": len(self.unused_indexes), "invalid_indexes": len(self.invalid_indexes),
                "suite_p95_ms": self.suite_p95}


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


def _rows(data: dict[str, Any], view: str) -> list[dict[str, Any]]:
    rows = data.get(view)
    return rows if isinstance(rows, list) else []


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def build(conn: Connection, database: str, day: dt.date, interval_s: float = 30.0,
          now: dt.datetime | None = None) -> DailyReport:
    """The report, or one line when there is nothing to report (no snapshot that day)."""
    today = (now or dt.datetime.now(dt.UTC)).date()
    if day >= today:
        raise PgOpsError(f"{day} is not over yet (today is {today} UTC): a daily report covers a whole past day")
    start, end = day_bounds(day)
    ticks = conn.execute(sqlfiles.read("reports/day_snapshots.sql"),
                         {"database": database, "start": start, "end": end}).fetchall()
    if not ticks:
        raise PgOpsError(f"no snapshots for {day} of {database}: the monitoring_snapshot sensor did not run that day")
    report = DailyReport(database=database, day=day, ticks=len(ticks), expected_ticks=int(86_400 // interval_s))
    _from_snapshots(report, ticks)
    _statements(conn, report, start, end)
    _suite(conn, report, day)
    return report


def _from_snapshots(report: DailyReport, ticks: list[dict[str, Any]]) -> None:
    by_tick = []
    for tick in ticks:
        row = (_rows(tick["data"], "connections") or [{}])[0]
        by_tick.append({"taken_at": tick["taken_at"], **{k: _number(row.get(k)) or 0.0 for k in
                        ("total", "active", "idle", "idle_in_transaction", "waiting_on_locks")}})
    frame = pd.DataFrame(by_tick)
    report.connections_by_tick = by_tick
    report.connections = {f"{kind}_{state}": round(float(getattr(frame[state], kind)()), 2)
                          for state in ("total", "active", "idle", "idle_in_transaction", "waiting_on_locks")
                          for kind in ("max", "mean")}
    first, last = ticks[0]["data"], ticks[-1]["data"]

    def database_row(data: dict[str, Any], view: str) -> dict[str, Any]:
        rows = [r for r in _rows(data, view) if r.get("scope", "database") == "database"]
        return rows[0] if rows else {}

    hits = [_number(database_row(d, "cache_hit_ratio").get(k)) for d in (first, last) for k in ("hits", "reads")]
    if all(h is not None for h in hits):
        hit0, read0, hit1, read1 = (float(h or 0) for h in hits)
        hit_delta, read_delta = hit1 - hit0, read1 - read0
        if hit_delta < 0 or read_delta < 0:  # statistics reset during the day: the counters since then
            hit_delta, read_delta = hit1, read1
        total = hit_delta + read_delta
        report.cache_hit_ratio = round(100.0 * hit_delta / total, 2) if total else None
    for tick in ticks:
        size = _number(database_row(tick["data"], "database_size").get("total_bytes"))
        if size is not None:
            report.size_by_tick.append((tick["taken_at"], int(size)))
    sizes = [_number(database_row(d, "database_size").get("total_bytes")) for d in (first, last)]
    report.database_bytes_start = int(sizes[0]) if sizes[0] is not None else None
    report.database_bytes_end = int(sizes[1]) if sizes[1] is not None else None

    def bytes_of(row: dict[str, Any], key: str = "total_bytes") -> int:
        return int(_number(row.get(key)) or 0)

    tables_then = {(r["schema"], r["table_name"]): bytes_of(r) for r in _rows(first, "table_statistics")}
    tables_now = sorted(_rows(last, "table_statistics"), key=lambda r: -bytes_of(r))
    report.largest_tables = [{"table": f"{r['schema']}.{r['table_name']}", "bytes": bytes_of(r),
                              "growth_bytes": bytes_of(r) - tables_then.get((r["schema"], r["table_name"]), 0)}
                             for r in tables_now[:10]]
    by_dead = sorted(_rows(last, "table_statistics"), key=lambda r: -(_number(r.get("dead_tuple_ratio")) or 0))
    report.dead_tuples = [{"table": f"{r['schema']}.{r['table_name']}",
                           "dead_tuple_ratio": _number(r.get("dead_tuple_ratio")), "last_vacuum": r.get("last_vacuum")}
                          for r in by_dead[:10] if (_number(r.get("dead_tuple_ratio")) or 0) > 0]
    report.unused_indexes = [{"index": f"{r['schema']}.{r['index_name']}", "table": r["table_name"],
                              "bytes": bytes_of(r, "size_bytes")}
                             for r in _rows(last, "index_usage") if r.get("usage") == "NEVER_USED"]
    seen: dict[str, dict[str, Any]] = {}
    for tick in ticks:  # an index INVALID at any moment of the day is reported, with when it was first seen
        for r in _rows(tick["data"], "invalid_indexes"):
            seen.setdefault(f"{r['schema']}.{r['index_name']}", {"index": f"{r['schema']}.{r['index_name']}",
                                                                 "table": r["table_name"],
                                                                 "first_seen": tick["taken_at"].isoformat()})
    report.invalid_indexes = list(seen.values())


def _statements(conn: Connection, report: DailyReport, start: dt.datetime, end: dt.datetime) -> None:
    params = {"database": report.database, "start": start - dt.timedelta(days=1), "end": end, "day_start": start}
    sums = pd.DataFrame(conn.execute(sqlfiles.read("reports/statement_deltas.sql"), params).fetchall(),
                        columns=["today", "queryid", "userid", "username", "query", "calls", "total_exec_ms", "rows"]
                        ).rename(columns={"username": "user", "total_exec_ms": "total_ms"})
    captured = conn.execute("select count(distinct taken_at) as n from pgops.statement_captures "
                            "where database = %s and taken_at >= %s and taken_at < %s",
                            (report.database, start, end)).fetchone()
    report.statement_captures = int(captured["n"]) if captured else 0
    if sums.empty:
        return
    for column in ("calls", "total_ms", "rows"):
        sums[column] = sums[column].astype(float)
    by_day = {flag: frame.set_index(["queryid", "userid"]) for flag, frame in sums.groupby("today")}
    today = by_day.get(True, sums.iloc[0:0].set_index(["queryid", "userid"]))
    today = today[today["calls"] > 0].copy()
    today["mean_ms"] = today["total_ms"] / today["calls"]
    top = today.sort_values("total_ms", ascending=False).head(TOP_STATEMENTS)
    report.statements = [_statement(key, row) for key, row in top.iterrows()]
    # New: captured that day and in none of the day before's captures (a history that starts that day has
    # nothing to compare with, so nothing in it is new).
    if False in by_day:
        seen_before = set(by_day[False].index)
        report.new_statements = [_statement(key, row) for key, row in today.iterrows() if key not in seen_before]
    if False in by_day:
        before = by_day[False]
        before = before[before["calls"] > 0]
        joined = today.join((before["total_ms"] / before["calls"]).rename("mean_before_ms"), how="inner")
        worse = joined[joined["mean_ms"] > WORSE_FACTOR * joined["mean_before_ms"]]
        report.worse_statements = [{**_statement(key, row), "mean_before_ms": round(float(row["mean_before_ms"]), 3)}
                                   for key, row in worse.sort_values("total_ms", ascending=False).iterrows()]


def _statement(key: Any, row: Any) -> dict[str, Any]:
    queryid, _ = key
    return {"queryid": int(queryid), "user": str(row["user"]), "query": str(row["query"]), "calls": int(row["calls"]),
            "total_ms": round(float(row["total_ms"]), 3), "mean_ms": round(float(row["total_ms"]) / row["calls"], 3),
            "rows": int(row["rows"])}


def _suite(conn: Connection, report: DailyReport, day: dt.date) -> None:
    recorded = conn.execute("select to_regclass('pgops.benchmark_runs') is not null as ready").fetchone()
    if not recorded or not recorded["ready"]:  # no validation ever ran here: the report says so
        return
    start = day_bounds(day - dt.timedelta(days=TREND_DAYS - 1))[0]
    end = day_bounds(day)[1]
    for row in conn.execute(sqlfiles.read("reports/suite_p95_by_day.sql"), {"start": start, "end": end}).fetchall():
        report.suite_trend.setdefault(row["query"], []).append((row["day"].isoformat(), float(row["p95_ms"])))
        if row["day"] == day:
            report.suite_p95[row["query"]] = float(row["p95_ms"])
