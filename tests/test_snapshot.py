"""The monitoring snapshot: views -> gauges -> the real Pushgateway, and the history table, through outages."""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pg_ops.definitions import defs
from pg_ops.defs import sensors
from pg_ops.defs.resources import PostgresTarget, PushgatewayTarget
from pg_ops.engine.db import connection, describe
from pg_ops.engine.monitoring import monitoring_schema, snapshot
from pg_ops.engine.monitoring.monitoring_schema import ViewRead
from pg_ops.local import sandbox
from pg_ops.local.daemons import ServedURL
from pg_ops.local.sandbox import SandboxInfo
from tests import servers
from tests.cli import one_line_error, pg_ops

PASSWORD = "Snapshot-pw-3141"


def gateway_samples(url: str, database: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """name -> {labels without job/instance/database: value} for one database's group on the gateway."""
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("database") != database or sample.labels.get("job") != snapshot.JOB:
                continue
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k not in ("job", "instance", "database")))
            out.setdefault(sample.name, {})[labels] = sample.value
    return out


# Pure functions first: how rows become series and history.

def _read(view: str, rows: list[dict[str, object]], error: str | None = None) -> ViewRead:
    return ViewRead(view, rows, 0.012, error)


def test_rows_become_gauges_with_bounded_labels_and_no_free_text() -> None:
    vacuumed = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    reads = [
        _read("table_statistics", [{"schema": "public", "table_name": "orders", "seq_scan": 3, "live_tuples": 10,
                                    "dead_tuple_ratio": decimal.Decimal("1.5"), "last_vacuum": vacuumed,
                                    "last_analyze": None, "total_size": "8192 bytes"}]),
        _read("query_performance", [{"queryid": str(i), "username": "postgres", "query": "select secret_text",
                                     "calls": i} for i in range(30)]),
        _read("slow_queries", [{"pid": 1, "query": "x", "running_s": decimal.Decimal("2.5")},
                               {"pid": 2, "query": "y", "running_s": decimal.Decimal("70")}]),
        _read("rpc_performance", [], error="relation does not exist"),
    ]
    registry, series = snapshot.registry_for(reads, 1_800_000_000.0)
    families = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    table = {s.name: s for s in families["pg_ops_snapshot_table_statistics_seq_scan"].samples}
    assert table["pg_ops_snapshot_table_statistics_seq_scan"].labels == {"schema": "public", "table_name": "orders"}
    assert families["pg_ops_snapshot_table_statistics_dead_tuple_ratio"].samples[0].value == 1.5
    assert families["pg_ops_snapshot_table_statistics_last_vacuum_timestamp_seconds"].samples[0].value == \
        vacuumed.timestamp()
    assert "pg_ops_snapshot_table_statistics_last_analyze_timestamp_seconds" not in families  # never analyzed
    assert not any("total_size" in name or "query_query" in name for name in families)
    assert "secret_text" not in generate_latest(registry).decode()
    assert len(families["pg_ops_snapshot_query_performance_calls"].samples) == 20  # the top 20, in view order
    assert families["pg_ops_snapshot_slow_queries_running_s_max"].samples[0].value == 70
    assert "pg_ops_snapshot_slow_queries_pid_max" not in families  # a pid is no measurement
    success = {s.labels["view"]: s.value for s in families["pg_ops_snapshot_view_success"].samples}
    assert success == {"table_statistics": 1, "query_performance": 1, "slow_queries": 1, "rpc_performance": 0}
    assert families["pg_ops_snapshot_timestamp_seconds"].samples[0].value == 1_800_000_000.0
    assert series == sum(len(f.samples) for f in families.values())


def test_per_table_views_keep_the_largest_rows_and_a_repeated_label_set_once() -> None:
    rows = [{"schema": "s", "table_name": f"t{i}", "total_bytes": i} for i in range(snapshot.PER_TABLE_ROWS + 30)]
    rows.append({"schema": "s", "table_name": "t79", "total_bytes": 0})  # same labels as a kept row
    registry, _ = snapshot.registry_for([_read("table_statistics", rows)], 0.0)
    kept = {s.labels["table_name"]: s.value for f in text_string_to_metric_families(generate_latest(registry).decode())
            if f.name == "pg_ops_snapshot_table_statistics_total_bytes" for s in f.samples}
    assert len(kept) == snapshot.PER_TABLE_ROWS and min(kept.values()) == 30 and kept["t79"] == 79
    history = snapshot.history_data([_read("table_statistics", rows), _read("connections", [{"total": 3}]),
                                     _read("index_usage", [], error="boom")])
    assert [r["table_name"] for r in history["table_statistics"]][:2] == ["t79", "t78"]
    assert len(history["table_statistics"]) == snapshot.HISTORY_ROWS and history["connections"] == [{"total": 3}]
    assert "index_usage" not in history


def test_a_tick_says_in_one_line_what_happened() -> None:
    outcome = snapshot.TickOutcome(database="u@h:1/db", taken_at=dt.datetime.now(dt.UTC),
                                   reads=[_read("connections", [{}]), _read("rpc_performance", [], "gone")],
                                   read_s=0.05, push_error="Pushgateway http://x did not take the snapshot: refused",
                                   saved=True)
    line = outcome.line()
    assert "\n" not in line and not outcome.ok
    assert line.startswith("snapshot of u@h:1/db: 1/2 views in 50 ms; failed: monitoring.rpc_performance: gone")
    assert "NOT pushed (Pushgateway http://x did not take the snapshot: refused)" in line and "history saved" in line
    down = snapshot.TickOutcome(database="u@h:1/db", taken_at=dt.datetime.now(dt.UTC), database_error="cannot connect")
    assert down.line() == "snapshot of u@h:1/db: nothing read or saved: cannot connect"


# On the real server and the real Pushgateway.

@pytest.fixture(scope="module")
def watched(demo_db: str) -> str:
    monitoring_schema.apply(demo_db, PASSWORD)
    return demo_db


@pytest.fixture
def gateway() -> Iterator[ServedURL]:
    with servers.pushgateway() as url:
        yield url


def _history(dsn: str) -> list[dict[str, object]]:
    with connection(dsn) as conn:
        if conn.execute("select to_regclass('pgops.monitoring_snapshots') as t").fetchone()["t"] is None:  # type: ignore[index]
            return []
        return conn.execute("select * from pgops.monitoring_snapshots order by taken_at").fetchall()


def test_a_tick_pushes_what_the_views_say_and_keeps_a_history_row(watched: str, gateway: str) -> None:
    target = snapshot.SnapshotTarget(dsn=watched, monitoring_password=PASSWORD, pushgateway_url=gateway)
    taker = snapshot.Snapshotter(target)
    try:
        taker.tick()  # the first tick creates the history tables, after reading: compare the second
        outcome = taker.tick()
    finally:
        taker.close()
    assert outcome.ok, outcome.line()
    views = monitoring_schema.read_views(monitoring_schema.role_dsn(watched, PASSWORD))
    pushed = gateway_samples(gateway, target.database)
    for row in views["table_statistics"]:
        key = (("schema", row["schema"]), ("table_name", row["table_name"]))
        assert pushed["pg_ops_snapshot_table_statistics_total_bytes"][key] == row["total_bytes"]
    [size] = views["database_size"]
    assert pushed["pg_ops_snapshot_database_size_index_bytes"][()] == size["index_bytes"]
    assert set(pushed["pg_ops_snapshot_view_success"]) == {(("view", v),) for v in monitoring_schema.expected_views()}
    assert abs(pushed["pg_ops_snapshot_timestamp_seconds"][()] - outcome.taken_at.timestamp()) < 1e-3
    last = _history(watched)[-1]
    assert last["pushed"] and last["views_read"] == len(monitoring_schema.expected_views()) == 13
    assert last["views_failed"] == {}
    assert last["taken_at"] == outcome.taken_at and last["database"] == target.database
    assert {r["table_name"] for r in last["data"]["table_statistics"]} >= {"orders", "order_items"}  # type: ignore[index]
    assert PASSWORD not in str(last) and PASSWORD not in outcome.line()


def test_a_table_that_is_gone_is_gone_from_the_gateway(watched: str, gateway: str) -> None:
    target = snapshot.SnapshotTarget(dsn=watched, monitoring_password=PASSWORD, pushgateway_url=gateway)
    taker = snapshot.Snapshotter(target)
    key = (("schema", "public"), ("table_name", "snapshot_tmp"))
    try:
        with connection(watched) as conn:
            conn.execute("create table public.snapshot_tmp (id int)")
        assert taker.tick().pushed
        assert key in gateway_samples(gateway, target.database)["pg_ops_snapshot_table_statistics_seq_scan"]
        with connection(watched) as conn:
            conn.execute("drop table public.snapshot_tmp")
        assert taker.tick().pushed
        assert key not in gateway_samples(gateway, target.database)["pg_ops_snapshot_table_statistics_seq_scan"]
    finally:
        taker.close()


def test_gateway_down_then_slow_costs_one_line_each_and_never_the_history(watched: str) -> None:
    with servers.pushgateway() as gateway:
        port = int(gateway.rsplit(":", 1)[1])
    target = snapshot.SnapshotTarget(dsn=watched, monitoring_password=PASSWORD, pushgateway_url=gateway,
                                     push_timeout_s=1.0)
    taker = snapshot.Snapshotter(target)
    before = len(_history(watched))
    try:
        down = taker.tick()  # nothing listens on the port any more
        assert not down.pushed and down.saved and "\n" not in down.line()
        assert "NOT pushed" in down.line() and "refused" in down.line() and "history saved" in down.line()
        with servers.pushgateway(port=port) as revived:
            os.kill(revived.pid, signal.SIGSTOP)  # accepts connections, answers nothing: a hung gateway
            try:
                started = time.monotonic()
                slow = taker.tick()
                took = time.monotonic() - started
            finally:
                os.kill(revived.pid, signal.SIGCONT)
            assert not slow.pushed and slow.saved and "no answer within 1 s" in slow.line()
            assert took < 1.0 + 2.0, took  # the push timeout bounds the tick
            back = taker.tick()
            assert back.pushed and back.ok, back.line()
            assert gateway_samples(revived, target.database)["pg_ops_snapshot_view_success"]
    finally:
        taker.close()
    rows = _history(watched)[before:]
    assert [r["pushed"] for r in rows] == [False, False, True]
    assert "refused" in str(rows[0]["push_error"]) and "no answer" in str(rows[1]["push_error"])


def test_one_broken_view_fails_alone(watched: str, gateway: str) -> None:
    target = snapshot.SnapshotTarget(dsn=watched, monitoring_password=PASSWORD, pushgateway_url=gateway)
    taker = snapshot.Snapshotter(target)
    with connection(watched) as conn:
        conn.execute("alter view monitoring.index_usage rename to index_usage_away")
    try:
        outcome = taker.tick()
    finally:
        taker.close()
        with connection(watched) as conn:
            conn.execute("alter view monitoring.index_usage_away rename to index_usage")
    assert outcome.pushed and outcome.saved and set(outcome.failed_views) == {"index_usage"}
    assert "failed: monitoring.index_usage: relation \"monitoring.index_usage\" does not exist" in outcome.line()
    pushed = gateway_samples(gateway, target.database)
    assert pushed["pg_ops_snapshot_view_success"][(("view", "index_usage"),)] == 0
    assert pushed["pg_ops_snapshot_view_success"][(("view", "table_statistics"),)] == 1
    assert "pg_ops_snapshot_index_usage_scans" not in pushed and pushed["pg_ops_snapshot_table_statistics_seq_scan"]
    assert _history(watched)[-1]["views_failed"] == {"index_usage": outcome.failed_views["index_usage"]}


def test_old_history_is_deleted_after_the_retention(watched: str) -> None:
    target = snapshot.SnapshotTarget(dsn=watched, monitoring_password=PASSWORD, retention_days=1)
    taker = snapshot.Snapshotter(target)
    try:
        taker.tick()  # creates the table if this module has not yet
        with connection(watched) as conn:
            conn.execute("""insert into pgops.monitoring_snapshots
                            (database, taken_at, read_ms, views_read, views_failed, pushed, data)
                            values (%s, now() - interval '25 hours', 1, 12, '{}', true, '{}'),
                                   (%s, now() - interval '23 hours', 1, 12, '{}', true, '{}'),
                                   ('someone else', now() - interval '30 days', 1, 12, '{}', true, '{}')""",
                         (target.database, target.database))
        outcome = taker.tick()
    finally:
        taker.close()
    assert outcome.saved and "not pushed (no Pushgateway configured)" in outcome.line()
    ages = [(r["database"], dt.datetime.now(dt.UTC) - r["taken_at"]) for r in _history(watched)]  # type: ignore[operator]
    assert all(age < dt.timedelta(days=1) for database, age in ages if database == target.database)
    assert any(database == "someone else" for database, _ in ages)  # another database's rows are its own business


@pytest.fixture
def own_cluster() -> Iterator[tuple[SandboxInfo, Path]]:
    root = Path(tempfile.mkdtemp(prefix="pgops-test-pg.", dir="/tmp"))
    try:
        info, _ = sandbox.up(port=sandbox.free_port(), root=root)
        yield info, root
    finally:
        sandbox.down(purge=True, root=root)
        shutil.rmtree(root, ignore_errors=True)


def test_database_down_is_one_line_and_the_next_tick_after_it_returns_reconnects(
        own_cluster: tuple[SandboxInfo, Path], gateway: str) -> None:
    info, root = own_cluster
    dsn = servers.create_database(info, "snapdown")
    monitoring_schema.apply(dsn, PASSWORD)
    taker = snapshot.Snapshotter(snapshot.SnapshotTarget(dsn=dsn, monitoring_password=PASSWORD,
                                                         pushgateway_url=gateway))
    try:
        assert taker.tick().ok
        sandbox.down(root=root)  # a restart between two ticks: the kept sessions are dead and do not know it
        sandbox.up(port=info.port, root=root)
        assert taker.tick().ok
        sandbox.down(root=root)
        down = taker.tick()
        assert down.database_error and not down.pushed and not down.saved
        assert down.line().startswith(f"snapshot of postgres@127.0.0.1:{info.port}/snapdown: nothing read or saved: "
                                      f"cannot connect to monitoring@127.0.0.1:{info.port}/snapdown")
        assert "\n" not in down.line() and PASSWORD not in down.line()
        sandbox.up(port=info.port, root=root)
        back = taker.tick()
        assert back.ok, back.line()
    finally:
        taker.close()
    with connection(dsn) as conn:
        assert [r["pushed"] for r in conn.execute(
            "select pushed from pgops.monitoring_snapshots order by taken_at")] == [True, True, True]


# Through the Dagster sensor, as the daemon calls it.

def _evaluate(cursor: str | None, dsn: str, gateway: str, **target: Any) -> tuple[str, str | None, int]:
    """One tick of the sensor as the code location defines it, with the resources the daemon would bind."""
    sensor = defs.resolve_sensor_def("monitoring_snapshot")
    with dg.build_sensor_context(cursor=cursor, resources={
            "target": PostgresTarget(dsn=dsn, **target), "pushgateway": PushgatewayTarget(url=gateway)}) as context:
        result = sensor.evaluate_tick(context)
    return result.skip_message or "", result.cursor, len(result.run_requests or [])


@pytest.fixture(autouse=True)
def _logged_out() -> Iterator[None]:
    yield
    sensors.close_all()


def test_the_sensor_states_each_tick_in_one_line_and_remembers_the_last_success(
        watched: str, gateway: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITORING_PASSWORD", PASSWORD)
    line, cursor, runs = _evaluate(None, watched, gateway)
    assert runs == 0 and "\n" not in line and line.startswith("snapshot of ") and "history saved" in line
    state = json.loads(cursor or "{}")
    assert state["on_gateway"] == [describe(watched)]
    assert dt.datetime.fromisoformat(state["last_success"]) > dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)

    monkeypatch.delenv("MONITORING_PASSWORD")
    line, unchanged, _ = _evaluate(cursor, watched, gateway)
    assert line == "no snapshot: MONITORING_PASSWORD is not set; export the password the monitoring role " \
                   "(and the exporter) will log in with"
    assert unchanged == cursor

    monkeypatch.setenv("MONITORING_PASSWORD", PASSWORD)
    monkeypatch.setenv("PG_OPS_SNAPSHOT_RETENTION_DAYS", "two weeks")
    line, _, _ = _evaluate(cursor, watched, gateway)
    assert line == "no snapshot: PG_OPS_SNAPSHOT_RETENTION_DAYS must be a number >= 0.01, got 'two weeks'; " \
                   "fix or unset it (default 14)"


def test_a_database_no_longer_configured_has_its_group_deleted(
        pg: SandboxInfo, demo_template: str, watched: str, gateway: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITORING_PASSWORD", PASSWORD)
    other = servers.create_database(pg, "snapshot_other", template=demo_template)
    try:
        monitoring_schema.apply(other, PASSWORD)
        _, cursor, _ = _evaluate(None, watched, gateway)
        assert gateway_samples(gateway, describe(watched))
        line, cursor, _ = _evaluate(cursor, other, gateway)  # PG_OPS_DSN now names another database
    finally:
        servers.drop_database(pg, "snapshot_other")
    assert f"deleted the group of {describe(watched)}, no longer configured" in line
    assert not gateway_samples(gateway, describe(watched)) and gateway_samples(gateway, describe(other))
    assert json.loads(cursor or "{}")["on_gateway"] == [describe(other)]


def _prometheus_query(url: str, expr: str) -> list[dict[str, object]]:
    query = urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=5) as response:
        return json.loads(response.read())["data"]["result"]  # type: ignore[no-any-return]


def test_end_to_end_prometheus_sees_each_tick_and_a_gateway_restart_leaves_no_gap_in_the_history(
        watched: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITORING_PASSWORD", PASSWORD)
    database = describe(watched)
    port = sandbox.free_port()
    scrape_s = 1.0  # what servers.prometheus_config sets
    gateway_url = f"http://127.0.0.1:{port}"
    servers.prometheus_config(tmp_path / "prometheus.yml", gateway=gateway_url)

    def tick(cursor: str | None) -> tuple[str, str | None, dict[str, object]]:
        line, cursor, _ = _evaluate(cursor, watched, gateway_url)
        return line, cursor, _history(watched)[-1]

    def visible_after(prometheus: str, taken_at: dt.datetime) -> float:
        started = time.monotonic()
        expr = f'pg_ops_snapshot_timestamp_seconds{{job="pg_ops_snapshot",database="{database}"}}'
        while time.monotonic() - started < 10:
            result = _prometheus_query(prometheus, expr)
            if result and abs(float(result[0]["value"][1]) - taken_at.timestamp()) < 1e-3:  # type: ignore[index]
                return time.monotonic() - started
            time.sleep(0.05)
        raise AssertionError(f"snapshot of {taken_at} not in Prometheus after 10 s")

    with contextlib.ExitStack() as stack:
        stack.enter_context(servers.pushgateway(port=port))
        prometheus = stack.enter_context(servers.prometheus(tmp_path / "prometheus.yml"))
        servers.wait_for_targets(prometheus, expected=1)
        cursor = None
        line, cursor, first = tick(cursor)
        assert first["pushed"], line
        # within one scrape interval, plus the time this loop and the query take
        assert visible_after(prometheus, first["taken_at"]) < scrape_s + 0.5  # type: ignore[arg-type]
        views = monitoring_schema.read_views(monitoring_schema.role_dsn(watched, PASSWORD))
        in_prometheus = {r["metric"]["table_name"]: float(r["value"][1]) for r in _prometheus_query(  # type: ignore[index]
            prometheus, f'pg_ops_snapshot_table_statistics_total_bytes{{database="{database}"}}')}
        assert in_prometheus == {r["table_name"]: float(r["total_bytes"]) for r in views["table_statistics"]}

        stack.close()  # the gateway (and Prometheus) stop
        outage = [tick(cursor) for _ in range(2)]
        cursor = outage[-1][1]
        assert all(not row["pushed"] and "NOT pushed" in line for line, _, row in outage)

    with servers.pushgateway(port=port), servers.prometheus(tmp_path / "prometheus.yml") as prometheus:
        servers.wait_for_targets(prometheus, expected=1)
        line, cursor, back = tick(cursor)
        assert back["pushed"] and "last full success" not in line, line
        assert visible_after(prometheus, back["taken_at"]) < scrape_s + 0.5  # type: ignore[arg-type]

    rows = [r for r in _history(watched) if r["taken_at"] >= first["taken_at"]]  # type: ignore[operator]
    assert [r["pushed"] for r in rows] == [True, False, False, True]  # every tick is in the history


def test_the_interval_comes_from_the_environment_and_a_bad_one_is_one_line(demo_db: str) -> None:
    assert defs.resolve_sensor_def("monitoring_snapshot").minimum_interval_seconds == 30
    code = "from pg_ops.definitions import defs; print(defs.resolve_sensor_def('monitoring_snapshot')" \
           ".minimum_interval_seconds)"
    loaded = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PG_OPS_SNAPSHOT_INTERVAL_S": "10"},
                            capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "10"
    refused = one_line_error(pg_ops("run", env={"PG_OPS_DSN": demo_db, "PG_OPS_SNAPSHOT_INTERVAL_S": "1"}))
    assert refused == "pg-ops: PG_OPS_SNAPSHOT_INTERVAL_S must be a number >= 5, got '1'; fix or unset it (default 30)"


def test_before_the_monitoring_step_a_tick_writes_nothing_and_says_what_to_do(
        pg: SandboxInfo, demo_template: str, watched: str, gateway: str) -> None:
    untouched = servers.create_database(pg, "snapshot_before", template=demo_template)
    try:
        outcome = snapshot.once(snapshot.SnapshotTarget(untouched, PASSWORD, pushgateway_url=gateway))
        with connection(untouched) as conn:
            created = conn.execute("select to_regclass('pgops.monitoring_snapshots') as t").fetchone()
    finally:
        servers.drop_database(pg, "snapshot_before")
    assert outcome.line() == f"snapshot of {describe(untouched)}: the monitoring views are not installed, so " \
                             "nothing was pushed or written; materialize monitoring_schema " \
                             "(pg-ops run --select monitoring_schema)"
    assert not outcome.ok and not outcome.pushed and not outcome.saved
    assert created is not None and created["t"] is None  # no schema, no table in a database not rolled out yet
    assert not gateway_samples(gateway, describe(untouched))


def test_the_sensor_reaches_the_database_with_the_targets_own_settings(
        watched: str, gateway: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sensor is given the resource's target, not a second one of its own: its kept sessions carry the
    configured application name and statement timeout."""
    monkeypatch.setenv("MONITORING_PASSWORD", PASSWORD)
    line, _, _ = _evaluate(None, watched, gateway, application_name="rollout-2am", statement_timeout_ms=7777)
    assert "history saved" in line, line
    with connection(watched) as conn:
        kept = conn.execute("select usename, application_name from pg_stat_activity where datname = current_database() "
                            "and application_name like 'rollout-2am%' order by 1, 2").fetchall()
    assert {r["application_name"] for r in kept} == {"rollout-2am monitoring snapshot"}
    assert {r["usename"] for r in kept} == {"monitoring", "postgres"}  # the readers, and the history's writer
