"""Daily performance reports from a history the real snapshot code wrote, with an injected clock, over three
days: a full one, one with a gap, one spanning a pg_stat_statements reset. Figures are checked against what
the test itself did (how many times each statement ran that day) and against SQL over the same rows."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from PIL import Image

from pg_ops.engine.db import Target, connection
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.migrations import migrate
from pg_ops.engine.monitoring import monitoring_schema, snapshot
from pg_ops.engine.proof import benchmark
from pg_ops.engine.proof.benchmark import QueryResult, SuiteRun
from pg_ops.engine.reports import daily, days, render

PASSWORD = "Reports-monitor-pw-5"
DAY_A, DAY_B, DAY_C, EMPTY = (dt.date(2026, 11, 10), dt.date(2026, 11, 11), dt.date(2026, 11, 12),
                              dt.date(2026, 11, 13))
NOW = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
TICK = dt.timedelta(minutes=30)
INTERVAL_S = TICK.total_seconds()
# Statements the test runs, with how many times on each day (between the 10:00 and 11:00 captures, and on
# day C also after the reset, between 12:00 and 13:00).
SLEEP = "select pg_sleep(%s)"
NEW_ON_B = "select count(*) from public.restaurants where name like %s"


@dataclass
class History:
    dsn: str
    database: str
    ran: dict[tuple[dt.date, str], int]


def _clock() -> tuple[list[dt.datetime], object]:
    now = [dt.datetime.combine(DAY_A, dt.time(0), tzinfo=dt.UTC)]
    return now, lambda: now[0]


def _ticks(taker: snapshot.Snapshotter, now: list[dt.datetime], until: dt.datetime,
           at: dict[dt.datetime, object]) -> None:
    while now[0] < until:
        work = at.get(now[0])
        if callable(work):
            work()
        outcome = taker.tick()
        assert outcome.saved, outcome.line()
        now[0] += TICK


@pytest.fixture(scope="module")
def history(demo_db: str) -> Iterator[History]:
    migrate.apply(demo_db, migrate.Settings.platform())
    monitoring_schema.apply(demo_db, PASSWORD)
    now, clock = _clock()
    target = snapshot.SnapshotTarget(demo_db, PASSWORD, clock=clock)  # type: ignore[arg-type]
    ran: dict[tuple[dt.date, str], int] = {}

    def run(day: dt.date, statement: str, args: tuple[object, ...], times: int) -> None:
        with connection(demo_db) as conn:
            for _ in range(times):
                conn.execute(statement, args)  # type: ignore[arg-type]
        ran[(day, statement)] = ran.get((day, statement), 0) + times

    def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)

    def reset() -> None:
        with connection(demo_db) as conn:
            conn.execute("select extensions.pg_stat_statements_reset()" if _in_extensions(conn)
                         else "select pg_stat_statements_reset()")

    work = {
        at(DAY_A, 10, 30): lambda: run(DAY_A, SLEEP, (0.001,), 5),
        at(DAY_B, 10, 30): lambda: (run(DAY_B, SLEEP, (0.001,), 5), run(DAY_B, NEW_ON_B, ("a%",), 3)),
        at(DAY_C, 10, 30): lambda: run(DAY_C, SLEEP, (0.005,), 3),
        at(DAY_C, 11, 30): reset,
        at(DAY_C, 12, 30): lambda: run(DAY_C, SLEEP, (0.005,), 4),
    }
    for day, p95 in ((DAY_A, 2.0), (DAY_B, 2.5), (DAY_C, 9.0)):  # a validation each day (measured_at set after)
        validation = SuiteRun(run_id=str(uuid.uuid4()), phase="validation",
                              results=[QueryResult(name="driver_orders", file="driver_orders.sql", executions=1,
                                                   timings_ms=[p95])])
        benchmark.save(demo_db, validation)
        with connection(demo_db) as conn:
            conn.execute("update pgops.benchmark_runs set measured_at = %s where run_id = %s",
                         (at(day, 3), validation.run_id))
    taker = snapshot.Snapshotter(target)
    try:
        _ticks(taker, now, at(DAY_B, 12), work)  # day A whole, day B until noon
        now[0] = at(DAY_C, 0)  # the gap: no snapshot from noon on day B
        _ticks(taker, now, at(EMPTY, 0), work)
    finally:
        taker.close()
    yield History(dsn=demo_db, database=Target(dsn=demo_db).label, ran=ran)


def _in_extensions(conn: object) -> bool:
    row = conn.execute("select n.nspname as s from pg_extension e join pg_namespace n on n.oid = e.extnamespace "  # type: ignore[attr-defined]
                       "where e.extname = 'pg_stat_statements'").fetchone()
    return row["s"] == "extensions"


def _report(history: History, day: dt.date) -> daily.DailyReport:
    with connection(history.dsn) as conn:
        return daily.build(conn, history.database, day, interval_s=INTERVAL_S, now=NOW)


def _calls(report: daily.DailyReport, text_start: str) -> int:
    return sum(s["calls"] for s in report.statements if s["query"].startswith(text_start))


def test_statement_calls_per_day_are_what_ran_that_day_across_a_reset(history: History) -> None:
    a, b, c = (_report(history, day) for day in (DAY_A, DAY_B, DAY_C))
    assert _calls(a, "select pg_sleep($1)") == history.ran[(DAY_A, SLEEP)] == 5
    assert _calls(b, "select pg_sleep($1)") == 5
    assert _calls(c, "select pg_sleep($1)") == 7  # 3 before pg_stat_statements_reset() and 4 after it
    sleep_c = next(s for s in c.statements if s["query"].startswith("select pg_sleep"))
    assert sleep_c["mean_ms"] >= 4.5  # 5 ms sleeps
    assert [s["query"] for s in b.new_statements if "restaurants" in s["query"]] == [
        "select count(*) from public.restaurants where name like $1"]
    assert not any("restaurants where name" in s["query"] for s in c.new_statements + a.new_statements)
    assert any(s["query"].startswith("select pg_sleep") for s in c.worse_statements)  # 1 ms -> 5 ms
    assert not any(s["query"].startswith("select pg_sleep") for s in b.worse_statements)
    assert len(a.statements) <= daily.TOP_STATEMENTS
    assert [s["total_ms"] for s in a.statements] == sorted((s["total_ms"] for s in a.statements), reverse=True)


def test_the_suite_p95_of_the_day_and_its_trend(history: History) -> None:
    c = _report(history, DAY_C)
    assert c.suite_p95 == {"driver_orders": 9.0}
    assert c.suite_trend["driver_orders"] == [(str(DAY_A), 2.0), (str(DAY_B), 2.5), (str(DAY_C), 9.0)]
    assert _report(history, DAY_A).suite_trend["driver_orders"] == [(str(DAY_A), 2.0)]  # nothing from later days


def test_coverage_connections_and_sizes_equal_sql_over_the_same_rows(history: History) -> None:
    a, b = _report(history, DAY_A), _report(history, DAY_B)
    assert (a.ticks, a.expected_ticks, a.coverage) == (48, 48, 1.0)
    assert (b.ticks, b.coverage) == (24, 0.5)  # the gap from noon on
    with connection(history.dsn) as conn:
        start, end = daily.day_bounds(DAY_A)
        row = conn.execute(
            "select max((data->'connections'->0->>'total')::numeric) as max_total, "
            "avg((data->'connections'->0->>'active')::numeric) as mean_active, "
            "(array_agg((data->'database_size'->0->>'total_bytes')::bigint order by taken_at desc))[1] as last_size "
            "from pgops.monitoring_snapshots where database = %s and taken_at >= %s and taken_at < %s",
            (history.database, start, end)).fetchone()
    assert row is not None
    assert a.connections["max_total"] == float(row["max_total"])
    assert a.connections["mean_active"] == pytest.approx(float(row["mean_active"]), abs=0.01)
    assert a.database_bytes_end == row["last_size"]
    with connection(history.dsn) as conn:
        ends = conn.execute(
            "select (r->>'hits')::numeric as hits, (r->>'reads')::numeric as reads from pgops.monitoring_snapshots s, "
            "jsonb_array_elements(s.data->'cache_hit_ratio') r where s.database = %s and r->>'scope' = 'database' "
            "and s.taken_at in (%s, %s) order by s.taken_at", (history.database, start, end - TICK)).fetchall()
    hits, reads = ends[1]["hits"] - ends[0]["hits"], ends[1]["reads"] - ends[0]["reads"]
    assert a.cache_hit_ratio == round(float(100 * hits / (hits + reads)), 2)


def test_a_day_without_snapshots_and_bad_ranges_are_one_line(history: History, tmp_path: Path) -> None:
    with pytest.raises(PgOpsError, match=f"no snapshots for {EMPTY} of "):
        _report(history, EMPTY)
    with pytest.raises(PgOpsError, match="the range 2026-11-12 to 2026-11-10 is reversed"):
        days.day_range(DAY_C, DAY_A, NOW.date())
    with pytest.raises(PgOpsError, match=r"2026-11-20 is not over yet \(today is 2026-11-20 UTC\)"):
        days.day_range(DAY_A, NOW.date(), NOW.date())
    with pytest.raises(PgOpsError, match="--from '11/10/2026' is not a day; give YYYY-MM-DD"):
        days.parse_day("11/10/2026", "--from")
    blocked = tmp_path / "file"
    blocked.write_text("a file where the folder should be")
    with pytest.raises(PgOpsError, match=r"cannot write the report into .*file: .*; choose another folder"):
        days.build_days(Target(dsn=history.dsn), [DAY_A], blocked, interval_s=INTERVAL_S, now=NOW)


def _chromium_broken_images(page: Path) -> int:
    """How many images did not load in headless Chromium (-1 when the page did not render)."""
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text().replace(
        "</body>", "<script>addEventListener('load', () => document.body.setAttribute('data-broken', "
                   "[...document.images].filter(i => !i.complete || i.naturalWidth === 0).length))</script></body>"))
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with tempfile.TemporaryDirectory(prefix="pg_ops_chromium_") as profile:
        done = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                               "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
                              capture_output=True, text=True, timeout=120, check=False)
    found = re.search(r'data-broken="(\d+)"', done.stdout)
    return int(found.group(1)) if found else -1


def test_the_files_a_self_contained_page_and_plots_that_are_not_blank(history: History, tmp_path: Path) -> None:
    outcomes = days.build_days(Target(dsn=history.dsn), [DAY_A, DAY_B, DAY_C, EMPTY], tmp_path, interval_s=INTERVAL_S,
                               now=NOW)
    assert [o.day for o in outcomes if o.missing] == [EMPTY]
    files = outcomes[0].files
    assert files is not None and set(files.pngs) >= {"connections", "top_statements", "size_growth"}
    for png in files.pngs.values():
        image = Image.open(io.BytesIO(png.read_bytes())).convert("L")
        assert image.size[0] > 200 and image.getextrema()[0] < image.getextrema()[1]  # not one flat colour
    page = files.html.read_text()
    assert "src='http" not in page and page.count("data:image/png;base64,") == len(files.pngs)
    assert "select pg_sleep($1)" in page
    assert _chromium_broken_images(files.html) == 0
    with connection(history.dsn) as conn:
        kept = conn.execute("select day, coverage, summary from pgops.daily_reports where database = %s order by day",
                            (history.database,)).fetchall()
    assert [(r["day"], r["coverage"]) for r in kept] == [(DAY_A, 1.0), (DAY_B, 0.5), (DAY_C, 1.0)]
    assert json.loads(json.dumps(kept[0]["summary"]))["ticks"] == 48


def test_a_three_day_backfill_through_dagster_is_one_run_and_an_empty_day_warns(history: History,
                                                                               tmp_path: Path) -> None:
    from pg_ops.defs.reports import DailyReportConfig, daily_performance_report
    from pg_ops.defs.resources import PostgresTarget

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(  # what a UI backfill of a range launches under BackfillPolicy.single_run()
        [daily_performance_report], instance=instance,
        tags={"dagster/asset_partition_range_start": str(DAY_B), "dagster/asset_partition_range_end": str(EMPTY)},
        resources={"target": PostgresTarget(dsn=history.dsn)},
        run_config=dg.RunConfig(ops={"daily_performance_report": DailyReportConfig(
            folder=str(tmp_path), snapshot_interval_s=INTERVAL_S)}), raise_on_error=False)
    assert result.success
    materialized = sorted(e.partition for e in result.get_asset_materialization_events())
    assert materialized == [str(DAY_B), str(DAY_C), str(EMPTY)]  # one run for the range
    check = result.get_asset_check_evaluations()[0]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert f"no snapshots for {EMPTY}" in (check.description or "")
    assert (tmp_path / render.slug(history.database) / str(DAY_C) / "report.html").exists()


def test_the_schedule_asks_each_morning_for_the_day_before_and_is_off_without_a_target() -> None:
    from pg_ops.defs.reports import daily_report_schedule

    context = dg.build_schedule_context(scheduled_execution_time=dt.datetime(2026, 11, 21, 6, 0, tzinfo=dt.UTC))
    request = daily_report_schedule(context)
    assert isinstance(request, dg.RunRequest) and request.partition_key == "2026-11-20"
    assert daily_report_schedule.cron_schedule == "0 6 * * *"
    assert daily_report_schedule.default_status == dg.DefaultScheduleStatus.STOPPED  # PG_OPS_DSN unset in tests


def _last_tick_rows(history: History, day: dt.date, view: str) -> list[dict[str, Any]]:
    """A view's rows in the day's last snapshot, read with SQL from the history table."""
    start, end = daily.day_bounds(day)
    with connection(history.dsn) as conn:
        return [r["row"] for r in conn.execute(
            "select r.value as row from pgops.monitoring_snapshots s, jsonb_array_elements(s.data -> %s) r "
            "where s.database = %s and s.taken_at = (select max(taken_at) from pgops.monitoring_snapshots "
            "where database = %s and taken_at >= %s and taken_at < %s)",
            (view, history.database, history.database, start, end)).fetchall()]


def test_tables_indexes_and_dead_tuples_equal_sql_over_the_last_snapshot_of_the_day(history: History) -> None:
    a = _report(history, DAY_A)
    tables = _last_tick_rows(history, DAY_A, "table_statistics")
    largest = sorted(((f"{r['schema']}.{r['table_name']}", int(r["total_bytes"])) for r in tables),
                     key=lambda t: -t[1])[:10]
    assert largest and [(t["table"], t["bytes"]) for t in a.largest_tables] == largest
    unused = {f"{r['schema']}.{r['index_name']}" for r in _last_tick_rows(history, DAY_A, "index_usage")
              if r["usage"] == "NEVER_USED"}
    assert {i["index"] for i in a.unused_indexes} == unused
    dead = {f"{r['schema']}.{r['table_name']}" for r in tables if float(r["dead_tuple_ratio"] or 0) > 0}
    assert {t["table"] for t in a.dead_tuples} <= dead and len(a.dead_tuples) == min(10, len(dead))


def test_a_server_crash_between_captures_counts_what_ran_after_it(tmp_path: Path) -> None:
    """An immediate shutdown loses pg_stat_statements' counters (a clean one saves them): the capture after
    it has fewer calls than the one before, and the day counts the calls since the crash."""
    import os
    import signal

    from pg_ops.local import sandbox
    from tests import servers

    with servers.postgres_cluster() as info:
        dsn = info.dsn()
        monitoring_schema.apply(dsn, PASSWORD)
        now = [dt.datetime.combine(DAY_A, dt.time(10), tzinfo=dt.UTC)]
        taker = snapshot.Snapshotter(snapshot.SnapshotTarget(dsn, PASSWORD, clock=lambda: now[0]))

        def sleep(times: int) -> None:
            with connection(dsn) as conn:
                for _ in range(times):
                    conn.execute("select pg_sleep(%s)", (0.001,))

        try:
            assert taker.tick().captured  # the first capture: the baseline
            sleep(3)
            now[0] += dt.timedelta(hours=1)
            assert taker.tick().captured
            pid = sandbox.server_pid(info)
            assert pid is not None
            os.kill(pid, signal.SIGQUIT)  # immediate shutdown: no statistics file is written
            while sandbox.server_pid(info) is not None:
                pass
            sandbox.up(port=info.port, root=Path(info.data_dir).parent)
            sleep(2)
            now[0] += dt.timedelta(hours=1)
            assert taker.tick().captured
        finally:
            taker.close()
        with connection(dsn) as conn:
            report = daily.build(conn, Target(dsn=dsn).label, DAY_A, interval_s=INTERVAL_S, now=NOW)
    assert _calls(report, "select pg_sleep($1)") == 5  # 3 before the crash, 2 after it


def test_a_database_without_snapshot_history_is_one_line_on_the_command_line(pg: object) -> None:
    from tests import servers
    from tests.cli import one_line_error, pg_ops

    dsn = servers.create_database(pg, "t_reports_nothing")  # type: ignore[arg-type]
    try:
        line = one_line_error(pg_ops("report", "--from", str(DAY_A), env={"PG_OPS_DSN": dsn}))
        assert "has no snapshot history (pgops.monitoring_snapshots); run the rollout's monitoring_schema" in line
        line = one_line_error(pg_ops("report", "--from", str(DAY_C), "--to", str(DAY_A), env={"PG_OPS_DSN": dsn}))
        assert "the range 2026-11-12 to 2026-11-10 is reversed" in line
    finally:
        servers.drop_database(pg, "t_reports_nothing")  # type: ignore[arg-type]


def test_a_capture_that_fails_keeps_the_ticks_snapshot_and_says_so(history: History) -> None:
    later = dt.datetime(2026, 11, 15, 9, 0, tzinfo=dt.UTC)  # a day no other test reads
    with connection(history.dsn) as conn:
        conn.execute("alter table pgops.statement_captures add constraint refuse_all check (false) not valid")
    taker = snapshot.Snapshotter(snapshot.SnapshotTarget(history.dsn, PASSWORD, clock=lambda: later))
    try:
        outcome = taker.tick()
    finally:
        taker.close()
        with connection(history.dsn) as conn:
            conn.execute("alter table pgops.statement_captures drop constraint refuse_all")
    assert outcome.saved and not outcome.captured and not outcome.ok
    assert "statements NOT captured (new row for relation \"statement_captures\" violates check constraint" in \
        outcome.line() and "\n" not in outcome.line()
    with connection(history.dsn) as conn:
        assert conn.execute("select count(*) as n from pgops.monitoring_snapshots where taken_at = %s",
                            (later,)).fetchone() == {"n": 1}
