"""Alerts proven by live incidents: the real exporter and Prometheus with the shipped rules, the shipped
Alertmanager routing and inhibition, a webhook; each incident is made on a real server, the alert must
reach the webhook in its promised time with every annotation rendered, and resolve when the incident
ends, not before.

Every `for:` is scaled by FOR_SCALE (one function, tests.servers.rules_with_scaled_hold_downs); the
expressions, thresholds and windows are as shipped, so an alert on "waited 30 s" still needs 30 s.
Alerts not provoked here, and why: thresholds of minutes or more (IdleInTransaction > 5 min,
LongRunningQueries > 60 s, ReplicationLag, TransactionIdWraparound, RapidDatabaseGrowth > 1 GiB/h,
UnusedIndexes and RedundantIndexes over 100 MiB / 1 GiB, bloat over 10,000 dead rows for 30 min scaled
to 30 s is possible but costs a VACUUM-free table of that size), no replica on loopback, and the
Pushgateway alerts (tested against the real Pushgateway in test_alerting and test_snapshot).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pglast
import psycopg
import pytest

from pg_ops.engine import backup
from pg_ops.engine.db import as_uri, connect, connection
from pg_ops.engine.migrations import migrate
from pg_ops.engine.monitoring import monitoring_schema
from pg_ops.engine.monitoring.monitoring_stack import rules
from pg_ops.engine.paths import monitoring_dir, sql_dir
from pg_ops.engine.proof import benchmark, suite
from pg_ops.local import demo, sandbox
from pg_ops.local.sandbox import SandboxInfo
from tests import servers

FOR_SCALE = 1 / 60  # a minute of hold-down becomes a second
FIGURES: list[dict[str, Any]] = []  # incident -> webhook, per alert; written where PG_OPS_INCIDENT_FIGURES says
# Scrapes every 2 s: with its database down the exporter answers after 1.0 s, so a 1 s scrape timeout would
# see "exporter down" instead of pg_up 0 (production scrapes every 15 s with a 10 s timeout).
INTERVAL_S = 2
SLACK_S = 8.0  # scrape + evaluation + Alertmanager's group interval (1 s) + a busy machine
PASSWORD = "Incidents-monitor-5"
MAX_CONNECTIONS = 25


@dataclass
class Stack:
    info: SandboxInfo
    root: Path
    dsn: str
    exporter: servers.ServedURL
    prometheus: str
    hook: servers.Webhook
    hold_ms: dict[str, int]

    def promise_s(self, alert: str, threshold_s: float = 0.0) -> float:
        """When the alert must have reached the webhook: its (scaled) hold-down after the condition holds."""
        return threshold_s + self.hold_ms[alert] / 1000 + SLACK_S

    def kept_promise(self, alert: str, seconds: float, threshold_s: float = 0.0) -> None:
        """The incident reached the webhook in time; the figure is kept for `make bench`."""
        promise = self.promise_s(alert, threshold_s)
        FIGURES.append({"alert": alert, "seconds": round(seconds, 1), "promise_s": round(promise, 1),
                        "hold_down_s": round(self.hold_ms[alert] / 1000, 1), "threshold_s": threshold_s})
        assert seconds <= promise, f"{alert} took {seconds:.1f} s, promised {promise:.1f} s"

    def active(self) -> list[dict[str, Any]]:
        return servers.prometheus_alerts(self.prometheus)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A cluster of its own (the database-down incident stops it), with the demo loaded, backed up and
    rolled out in it, so pg_stat_statements holds the load, the backup and the rollout, as in production."""
    root = Path(tempfile.mkdtemp(prefix="pgops-test-incidents.", dir="/tmp"))
    work = tmp_path_factory.mktemp("incidents")
    try:
        info, _ = sandbox.up(port=sandbox.free_port(), root=root,
                             settings={"max_connections": str(MAX_CONNECTIONS), "superuser_reserved_connections": "0",
                                       "deadlock_timeout": "'200ms'"})
        dsn = servers.create_database(info, "incidents")
        demo.load(dsn, scale=servers.TEST_SCALE, seed=servers.TEST_SEED)
        backup.take(dsn, work / "backups", verify_restore=False, keep_last=1)
        migrate.apply(dsn, migrate.Settings.platform())
        monitoring_schema.apply(dsn, PASSWORD)
        hold_ms = servers.rules_with_scaled_hold_downs(monitoring_dir() / "prometheus" / "alerts.yml",
                                                       work / "alerts.yml", FOR_SCALE)
        with servers.webhook() as hook, \
                servers.postgres_exporter(as_uri(monitoring_schema.role_dsn(dsn, PASSWORD)),
                                          monitoring_dir() / "postgres_exporter" / "queries.yaml") as exporter, \
                servers.alertmanager(servers.alertmanager_config(
                    monitoring_dir() / "alertmanager" / "alertmanager.yml", work / "alertmanager.yml",
                    hook.url)) as am:
            servers.prometheus_config(work / "prometheus.yml", exporter=exporter, alerting_to=am,
                                      rules=work / "alerts.yml", interval=f"{INTERVAL_S}s")
            with servers.prometheus(work / "prometheus.yml") as prom:
                servers.wait_for_targets(prom, 1)
                yield Stack(info, root, dsn, exporter, prom, hook, hold_ms)  # type: ignore[arg-type]
    finally:
        sandbox.down(purge=True, root=root)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module", autouse=True)
def _figures() -> Iterator[None]:
    """`make bench` runs this module and reads what it measured."""
    yield
    if os.environ.get("PG_OPS_INCIDENT_FIGURES"):
        Path(os.environ["PG_OPS_INCIDENT_FIGURES"]).write_text(json.dumps(
            {"for_scale": FOR_SCALE, "scrape_interval_s": INTERVAL_S, "slack_s": SLACK_S, "incidents": FIGURES},
            indent=2))


def assert_rendered(alert: dict[str, Any]) -> None:
    """Every annotation filled in: no empty label between its words, no template left."""
    for key, text in alert["annotations"].items():
        assert text.strip() and "<no value>" not in text and "{{" not in text, (key, text)
        assert not re.search(r"\s\s|\(\s*,|,\s*,|,\s*\)| \)|\s$|''", text), (key, text)


def quiet_until(stack: Stack, moment: float, *alertnames: str) -> None:
    """None of `alertnames` resolved (or, for a quiet alert, reached the webhook) before `moment`."""
    for name in alertnames:
        early = [a for t, a in stack.hook.received if t < moment and a["labels"]["alertname"] == name
                 and a["status"] == "resolved"]
        assert not early, f"{name} resolved before the incident ended: {early}"


# --- a healthy database -------------------------------------------------------------------------------------

def test_a_freshly_rolled_out_database_under_load_raises_nothing(stack: Stack) -> None:
    """The rollout's load, backup and index builds are in pg_stat_statements, and so is a statement that was
    slow once (the old rules paged on its lifetime mean): under the app's reads and writes, nothing is
    pending or firing."""
    with connection(stack.dsn) as conn:
        conn.execute("select pg_sleep(1.5)")
    with connection(stack.dsn) as conn:
        params = conn.execute("select * from pgops_demo.params").fetchone()
    assert params is not None
    pgbench = [f"{stack.info.bindir}/pgbench", "-n", "-c", "2", "-j", "2", "-R", "30", "-T", "25",
               "-f", str(sql_dir() / "bench" / "app_writes.sql"),
               "-D", f"seed={params['seed']}", "-D", f"n_customers={params['n_customers']}",
               "-D", f"n_restaurants={params['n_restaurants']}", "-D", f"n_orders={params['n_orders']}"]
    writes = subprocess.Popen(pgbench, env=backup.libpq_env(stack.dsn), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    reads = threading.Thread(target=lambda: benchmark.run_suite(stack.dsn, suite.load(), "quiet test",
                                                               executions=40, budget_s=3.0))
    reads.start()
    seen: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 25
    while time.monotonic() < deadline:
        for alert in stack.active():
            seen.setdefault(alert["labels"]["alertname"], alert)
        time.sleep(1)
    reads.join(60)
    output, _ = writes.communicate(timeout=60)
    assert writes.returncode == 0, output[-1000:]
    assert "number of failed transactions: 0 (0.000%)" in output, output[-1000:]
    assert seen == {}, {name: (a["state"], a["labels"], a.get("value")) for name, a in seen.items()}
    assert stack.hook.received == []


# --- incidents ----------------------------------------------------------------------------------------------

def test_an_invalid_index_pages_and_an_exporter_outage_neither_resolves_it_nor_restarts_it(stack: Stack) -> None:
    with connection(stack.dsn) as conn:
        conn.execute("create index incident_broken on public.orders (updated_at)")
        conn.execute("update pg_index set indisvalid = false where indexrelid = 'incident_broken'::regclass")
    began = time.monotonic()
    try:
        fired_at, fired = stack.hook.wait("InvalidIndex", after=began, timeout_s=60)
        stack.kept_promise("InvalidIndex", fired_at - began)
        assert_rendered(fired)
        assert fired["annotations"]["summary"].startswith("1 INVALID index(es) on 127.0.0.1:")
        [before] = [a for a in stack.active() if a["labels"]["alertname"] == "InvalidIndex"]

        os.kill(stack.exporter.pid, signal.SIGSTOP)  # the exporter hangs: every scrape times out
        stopped = time.monotonic()
        try:
            down_at, down = stack.hook.wait("PostgresExporterDown", after=fired_at, timeout_s=60)
            stack.kept_promise("PostgresExporterDown", down_at - stopped)
            assert_rendered(down)
            time.sleep(3)  # an outage long enough for the old rules to have resolved the index alert
            [during] = [a for a in stack.active() if a["labels"]["alertname"] == "InvalidIndex"]
            assert during["state"] == "firing" and during["activeAt"] == before["activeAt"]
        finally:
            os.kill(stack.exporter.pid, signal.SIGCONT)
        stack.hook.wait("PostgresExporterDown", status="resolved", after=down_at, timeout_s=60)
        [after] = [a for a in stack.active() if a["labels"]["alertname"] == "InvalidIndex"]
        assert after["state"] == "firing" and after["activeAt"] == before["activeAt"]  # the hold did not restart
    finally:
        with connection(stack.dsn) as conn:
            conn.execute("drop index incident_broken")
    fixed = time.monotonic()
    stack.hook.wait("InvalidIndex", status="resolved", after=fixed, timeout_s=60)
    quiet_until(stack, fixed, "InvalidIndex")


def _queryid(dsn: str, text: str) -> str:
    with connection(dsn) as conn:
        conn.execute("set search_path = extensions, public")  # where monitoring_schema put the extension
        row = conn.execute("select queryid::text as id from pg_stat_statements where query like %s "
                           "and dbid = (select oid from pg_database where datname = current_database())",
                           (text,)).fetchone()
    assert row is not None, f"{text} not in pg_stat_statements"
    return str(row["id"])


def _repeat(dsn: str, statement: str, argument: float, times: int) -> None:
    with connection(dsn, application_name="test app") as conn:
        for _ in range(times):
            conn.execute(statement, (argument,))  # type: ignore[arg-type]


def test_slow_statements_are_judged_over_their_window_and_each_is_inhibited_only_by_itself(stack: Stack) -> None:
    """A: over a second a call (critical); B: 300 ms (warning); C: slow once. A's critical silences A's
    warning, not B's (the old inhibition silenced every warning of the family); C never alerts; both clear
    once their statements are fast again."""
    # as pg_stat_statements normalizes them (which of the two numbers becomes $1 is its business)
    very_slow, slow, once = "select pg_sleep($1)", "select $_ from pg_sleep($_)", "select count(*) from pg_sleep($1)"
    began = time.monotonic()
    # Well over the rules' minimum of 5 calls: the first scrape of a statement new to the top 20 already
    # counts the calls made before it, which no rate can see (about 2 s of calls at this scrape interval).
    workers = [threading.Thread(target=_repeat, args=(stack.dsn, "select pg_sleep(%s)", 1.1, 10)),
               threading.Thread(target=_repeat, args=(stack.dsn, "select 1 from pg_sleep(%s)", 0.3, 25)),
               threading.Thread(target=_repeat, args=(stack.dsn, "select count(*) from pg_sleep(%s)", 2.2, 1))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    a, b, c = (_queryid(stack.dsn, text) for text in (very_slow, slow, once))
    condition_at = time.monotonic()
    fired_at, fired = stack.hook.wait("VerySlowQueries", after=began, queryid=a, timeout_s=60)
    stack.kept_promise("VerySlowQueries", fired_at - condition_at)
    assert_rendered(fired)
    assert re.fullmatch(rf"Statement {a} \(postgres\) takes 1\.1\d*s per call over the last 5 minutes",
                        fired["annotations"]["summary"]), fired["annotations"]["summary"]
    warned_at, warned = stack.hook.wait("SlowQueries", after=began, queryid=b, timeout_s=60)
    stack.kept_promise("SlowQueries", warned_at - condition_at)
    summary = warned["annotations"]["summary"]
    assert re.search(r"takes 30\d(\.\d+)?ms per call", summary), summary
    time.sleep(2)
    assert not stack.hook.find("SlowQueries", queryid=a), "A's warning was not inhibited by A's critical"
    assert not [x for _, x in stack.hook.received if x["labels"].get("queryid") == c], "a statement slow once paged"

    fast = time.monotonic()
    _repeat(stack.dsn, "select pg_sleep(%s)", 0.0001, 600)
    _repeat(stack.dsn, "select 1 from pg_sleep(%s)", 0.0001, 600)
    stack.hook.wait("VerySlowQueries", status="resolved", after=fast, queryid=a, timeout_s=60)
    stack.hook.wait("SlowQueries", status="resolved", after=fast, queryid=b, timeout_s=60)
    quiet_until(stack, fast, "VerySlowQueries", "SlowQueries")


def test_an_idle_transaction_blocking_others_is_named_and_paged_before_the_queue_is_old(stack: Stack) -> None:
    with servers.lock_queue(stack.dsn, waiters=2) as blocker:
        began = time.monotonic()
        blocking_at, blocking = stack.hook.wait("IdleTransactionBlocking", after=began, blocker_pid=str(blocker),
                                                timeout_s=60)
        stack.kept_promise("IdleTransactionBlocking", blocking_at - began, threshold_s=10)
        assert_rendered(blocking)
        assert blocking["annotations"]["summary"].startswith(
            f"pid {blocker} (postgres, test lock holder) is idle in a transaction while sessions wait ")
        assert blocking["labels"]["severity"] == "critical"
        waits_at, waits = stack.hook.wait("LockWaits", after=began, blocker_pid=str(blocker), timeout_s=90)
        stack.kept_promise("LockWaits", waits_at - began, threshold_s=30)
        assert_rendered(waits)
        assert waits["annotations"]["description"].startswith(
            "2 session(s) queue behind one that has held its transaction for ")
        assert f"pg_terminate_backend({blocker})" in waits["annotations"]["action"]
        ended = time.monotonic()
    stack.hook.wait("IdleTransactionBlocking", status="resolved", after=ended, timeout_s=60)
    stack.hook.wait("LockWaits", status="resolved", after=ended, timeout_s=60)
    quiet_until(stack, ended, "IdleTransactionBlocking", "LockWaits")


def test_too_many_connections_pages_and_the_warning_twin_stays_silent(stack: Stack) -> None:
    with connection(stack.dsn) as conn:
        row = conn.execute("select count(*) as n from pg_stat_activity where backend_type = 'client backend'")
        in_use = int(row.fetchone()["n"])  # type: ignore[index]
    extra = [connect(stack.dsn, application_name="test leaking pool") for _ in range(MAX_CONNECTIONS - 1 - in_use)]
    try:
        began = time.monotonic()
        fired_at, fired = stack.hook.wait("TooManyConnections", after=began, timeout_s=60)
        stack.kept_promise("TooManyConnections", fired_at - began)
        assert_rendered(fired)
        time.sleep(stack.hold_ms["HighConnectionUsage"] / 1000 + 2)
        assert not stack.hook.find("HighConnectionUsage"), "the warning reached a human beside its critical twin"
    finally:
        for conn in extra:
            conn.close()
    ended = time.monotonic()
    stack.hook.wait("TooManyConnections", status="resolved", after=ended, timeout_s=60)
    quiet_until(stack, ended, "TooManyConnections")


def _deadlock(dsn: str) -> int:
    """Two transactions that take the same two rows in opposite orders; returns how many were killed."""
    with connection(dsn) as conn:
        ids = [r["id"] for r in conn.execute("select id from public.products order by id limit 2")]
    first, second = (connect(dsn, autocommit=False) for _ in range(2))
    failures: list[BaseException] = []

    def lock(conn: psycopg.Connection[Any], a: Any, b: Any) -> None:
        try:
            conn.execute("update public.products set name = name where id = %s", (a,))
            time.sleep(0.3)
            conn.execute("update public.products set name = name where id = %s", (b,))
        except psycopg.errors.DeadlockDetected as exc:
            failures.append(exc)
        finally:
            conn.rollback()
            conn.close()

    threads = [threading.Thread(target=lock, args=(first, ids[0], ids[1])),
               threading.Thread(target=lock, args=(second, ids[1], ids[0]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return len(failures)


def test_a_deadlock_is_reported_and_many_page(stack: Stack) -> None:
    """Deadlocks and ManyDeadlocks count events in their window: they fire at once and resolve when the
    window (5 and 15 min) has passed, which this test does not wait for."""
    began = time.monotonic()
    assert _deadlock(stack.dsn) == 1
    fired_at, fired = stack.hook.wait("Deadlocks", after=began, datname="incidents", timeout_s=60)
    stack.kept_promise("Deadlocks", fired_at - began)
    assert_rendered(fired)
    assert sum(_deadlock(stack.dsn) for _ in range(11)) == 11
    storm_at = time.monotonic()
    paged_at, paged = stack.hook.wait("ManyDeadlocks", after=began, datname="incidents", timeout_s=60)
    stack.kept_promise("ManyDeadlocks", paged_at - storm_at)
    assert_rendered(paged)
    assert paged["labels"]["severity"] == "critical"


def test_a_slow_rpc_function_pages_over_its_window_and_its_warning_twin_stays_silent(stack: Stack) -> None:
    with connection(stack.dsn) as conn:
        conn.execute("create or replace function public.incident_report(seconds float8) returns int "
                     "language plpgsql as $$ begin perform pg_sleep(seconds); return 1; end $$")
    try:
        began = time.monotonic()
        _repeat(stack.dsn, "select public.incident_report(%s)", 0.6, 12)
        condition_at = time.monotonic()
        fired_at, fired = stack.hook.wait("VerySlowRPCFunction", after=began, function_name="incident_report",
                                          timeout_s=60)
        stack.kept_promise("VerySlowRPCFunction", fired_at - condition_at)
        assert_rendered(fired)
        summary = fired["annotations"]["summary"]
        assert re.fullmatch(r"public\.incident_report takes 60\d(\.\d+)?ms per call over the last 5 minutes",
                            summary), summary
        time.sleep(stack.hold_ms["SlowRPCFunction"] / 1000 + 2)
        assert not stack.hook.find("SlowRPCFunction", function_name="incident_report"), "the twin was not inhibited"
        fast = time.monotonic()
        _repeat(stack.dsn, "select public.incident_report(%s)", 0.0001, 600)
        stack.hook.wait("VerySlowRPCFunction", status="resolved", after=fast, function_name="incident_report",
                        timeout_s=60)
        quiet_until(stack, fast, "VerySlowRPCFunction")
    finally:
        with connection(stack.dsn) as conn:
            conn.execute("drop function public.incident_report(float8)")


def test_an_exporter_query_that_fails_is_reported(stack: Stack) -> None:
    """The monitoring role loses a view (a revoked grant, a view dropped by hand): the exporter's scrape has
    an error, which is its own alert."""
    with connection(stack.dsn) as conn:
        conn.execute("revoke select on monitoring.statements_info from monitoring")
    began = time.monotonic()
    try:
        fired_at, fired = stack.hook.wait("PostgresExporterScrapeErrors", after=began, timeout_s=60)
        stack.kept_promise("PostgresExporterScrapeErrors", fired_at - began)
        assert_rendered(fired)
    finally:
        with connection(stack.dsn) as conn:
            conn.execute("grant select on monitoring.statements_info to monitoring")
    fixed = time.monotonic()
    stack.hook.wait("PostgresExporterScrapeErrors", status="resolved", after=fixed, timeout_s=60)
    quiet_until(stack, fixed, "PostgresExporterScrapeErrors")


def test_the_database_down_is_named_by_its_exporter_and_scrape_errors_stay_quiet(stack: Stack) -> None:
    sandbox.down(root=stack.root)
    began = time.monotonic()
    try:
        fired_at, fired = stack.hook.wait("PostgreSQLDown", after=began, timeout_s=60)
        stack.kept_promise("PostgreSQLDown", fired_at - began)
        instance = stack.exporter.removeprefix("http://").removesuffix("/metrics")
        assert fired["annotations"]["summary"] == f"PostgreSQL behind the exporter {instance} is down"
        assert_rendered(fired)
        deadline = time.monotonic() + stack.hold_ms["PostgresExporterScrapeErrors"] / 1000 + 3
        while time.monotonic() < deadline:
            names = {a["labels"]["alertname"] for a in stack.active()}
            assert "PostgresExporterScrapeErrors" not in names, "the same outage raised a second alert"
            time.sleep(0.5)
    finally:
        sandbox.up(port=stack.info.port, root=stack.root)
    back = time.monotonic()
    stack.hook.wait("PostgreSQLDown", status="resolved", after=back, timeout_s=60)
    quiet_until(stack, back, "PostgreSQLDown")


# --- runbooks -----------------------------------------------------------------------------------------------

SAMPLE_LABELS = {"queryid": "0", "username": "postgres", "schema": "public", "table_name": "orders",
                 "index_name": "orders_pkey", "function_name": "search_products", "blocker_pid": "1",
                 "blocker_user": "app", "blocker_application": "checkout", "blocker_state": "idle in transaction",
                 "query": "driver_orders", "server": "127.0.0.1:5432", "datname": "incidents",
                 "database": "incidents", "instance": "127.0.0.1:9187", "view": "connections"}
PLACEHOLDERS = {"PID": "1", "schema.table": "public.orders", "schema.index_name": "public.orders_pkey",
                "schema.redundant_index": "public.orders_pkey", "statement;": "select 1;",
                "(columns)": "(status)", "(referencing_columns)": "(status)"}


def _render(text: str) -> str:
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: SAMPLE_LABELS[m.group(1)], text)


@pytest.mark.parametrize("rule", rules(monitoring_dir() / "prometheus" / "alerts.yml"), ids=lambda r: r["alert"])
def test_every_runbook_diagnoses_as_monitoring_and_its_action_names_the_role_and_parses(
        stack: Stack, rule: dict[str, Any]) -> None:
    notes = rule["annotations"]
    with connection(monitoring_schema.role_dsn(stack.dsn, PASSWORD), autocommit=False) as conn:
        conn.execute("set transaction read only")
        for statement in pglast.split(_render(notes["diagnose"])):
            conn.execute(statement)  # type: ignore[arg-type]
        conn.rollback()
    action = _render(notes["action"])
    assert re.match(r"(As [^:]+|Outside the database): \S", action), action
    snippets = re.findall(r"`([^`]+)`", action)
    if action.startswith("As "):
        assert snippets, f"{rule['alert']}: an action for a role without its SQL in backticks"
    for snippet in snippets:
        for placeholder, value in PLACEHOLDERS.items():
            snippet = snippet.replace(placeholder, value)
        snippet = snippet.replace("CONCURRENTLY name ON", "CONCURRENTLY an_index ON")
        assert pglast.parse_sql(snippet), snippet
