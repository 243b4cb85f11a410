"""`make bench`: the performance report. Figures come from measurement on this machine, never from tests.

It measures the demo load, the rollout under write load (with the shipped alert rules watching it and the 10
minutes after it), the suite before and after, the monitoring views, a snapshot tick against the exporter, the
reports, the pooler, and the rollback round trip under write load with the restore drill.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from psycopg import sql

from pg_ops.engine import backup
from pg_ops.engine.backup import libpq_env
from pg_ops.engine.db import as_uri, connection
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.migrations import migrate
from pg_ops.engine.paths import project_root, sql_dir, state_dir
from pg_ops.engine.proof import benchmark, rls_matrix, suite
from pg_ops.local import (
    bench_advisor,
    bench_lint,
    bench_pooler,
    bench_reports,
    bench_rollback,
    demo,
    pgbench_log,
    sandbox,
)

BENCH_DB = "bench"
AFTER_ROLLOUT_S = 600  # the quiet time after a rollout in which no alert may fire (issue 18)
WRITES_BEFORE_S = 120  # the same writes before the rollout: the base of the write-cost ratio (issue 12)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(memory_gib, 1),
            "os": platform.platform(), "python": platform.python_version()}


def _fresh_database(info: sandbox.SandboxInfo) -> str:
    with connection(info.dsn("postgres")) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(BENCH_DB)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(BENCH_DB)))
    return info.dsn(BENCH_DB)


def _app_writes_argv(info: sandbox.SandboxInfo, dsn: str, rate: int, clients: int, seconds: int) -> list[str]:
    """pgbench running sql/bench/app_writes.sql over the demo's own ids, at a fixed rate."""
    with connection(dsn) as conn:
        params = conn.execute("select * from pgops_demo.params").fetchone()
    assert params is not None
    return [str(Path(info.bindir) / "pgbench"), "-n", "-c", str(clients), "-j", "2", "-R", str(rate),
            "-T", str(seconds), "-f", str(sql_dir() / "bench" / "app_writes.sql"),
            "-D", f"seed={params['seed']}", "-D", f"n_customers={params['n_customers']}",
            "-D", f"n_restaurants={params['n_restaurants']}", "-D", f"n_orders={params['n_orders']}"]


def rollout_under_load(info: sandbox.SandboxInfo, dsn: str, rate: int = 200, clients: int = 4) -> dict[str, Any]:
    """The whole rollout (verified backup, then every migration) while pgbench writes orders at a fixed rate."""
    work = state_dir() / "bench"
    work.mkdir(parents=True, exist_ok=True)
    for old in work.glob("pgbench_log*"):
        old.unlink()
    prefix = work / "pgbench_log"
    argv = [*_app_writes_argv(info, dsn, rate, clients, 3600), "-l", f"--log-prefix={prefix}"]
    load = subprocess.Popen(argv, env=libpq_env(dsn), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=work)
    try:
        time.sleep(3)  # steady state before the first change
        started = time.perf_counter()
        backed_up = backup.take(dsn, work / "backups", verify_restore=True, keep_last=1)
        applied = migrate.apply(dsn, migrate.Settings.platform())
        rollout_s = time.perf_counter() - started
        time.sleep(3)
    finally:
        load.send_signal(signal.SIGALRM)  # pgbench's own end-of-duration signal: it stops and flushes its log
        output, _ = load.communicate(timeout=60)
    latencies = pgbench_log.latencies_us(prefix)
    failed = next((int(line.split(":")[1].split()[0]) for line in output.splitlines()
                   if line.startswith("number of failed transactions")), -1)
    aborted = sum("aborted" in line for line in output.splitlines())
    return {
        "load": f"pgbench, {clients} clients, {rate} transactions/s (insert one order, update another by key)",
        "transactions": len(latencies), "failed_transactions": failed, "aborted_clients": aborted,
        "write_latency_ms": {"p50": round(statistics.median(latencies) / 1000, 2),
                             "p99": round(latencies[int(len(latencies) * 0.99)] / 1000, 2),
                             "max": round(latencies[-1] / 1000, 2)} if latencies else {},
        "stalls_over_1s": sum(1 for latency in latencies if latency > 1_000_000),
        "pgbench_output_tail": output.strip().splitlines()[-14:],
        "rollout_s": round(rollout_s, 1),
        "backup_s": round(backed_up.seconds, 1), "backup_restore_check_s": round(backed_up.restore_seconds or 0, 1),
        "backup_mib": round(backed_up.size_bytes / 2**20, 1),
        "migrations_wall_s": round(applied.seconds, 2),
        "migration_statements_s": round(applied.statements_ms / 1000, 2),
        "migrations_wall_over_statements": round(applied.seconds / max(applied.statements_ms / 1000, 1e-9), 3),
        "files_applied": len(applied.applied),
        "slowest_files": [[a.label, round(a.statements_ms / 1000, 2)]
                          for a in sorted(applied.applied, key=lambda a: -a.statements_ms)[:4]],
    }


def app_writes(info: sandbox.SandboxInfo, dsn: str, seconds: int, rate: int = 200, clients: int = 4,
               label: str = "writes") -> dict[str, Any]:
    """The app's steady writes alone, for `seconds`, with their latencies (what the rollout's triggers cost
    them shows as the difference between a run before and one after the rollout)."""
    work = state_dir() / "bench"
    work.mkdir(parents=True, exist_ok=True)
    prefix = work / f"pgbench_{label}"
    for old in work.glob(prefix.name + ".*"):
        old.unlink()
    done = subprocess.run([*_app_writes_argv(info, dsn, rate, clients, seconds), "-l", f"--log-prefix={prefix}"],
                          env=libpq_env(dsn), capture_output=True, text=True, check=False, timeout=seconds + 120,
                          cwd=work)
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    latencies = pgbench_log.latencies_us(prefix)
    return {"seconds": seconds, "load": f"pgbench, {clients} clients, {rate} transactions/s",
            "failed_transactions": int(failed.group(1)) if failed else None, "transactions": len(latencies),
            "write_latency_ms": {q: round(latencies[min(len(latencies) - 1, int(len(latencies) * f))] / 1000, 3)
                                 for q, f in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))} if latencies else {}}


@contextmanager
def alert_watch(dsn: str, interval_s: int = 5) -> Iterator[dict[str, dict[str, Any]]]:
    """The shipped rules as they are (real hold-downs) over the real exporter, evaluated every `interval_s`
    (production: 15 s): every alert that went pending or firing, keyed by name and labels."""
    from pg_ops.engine.monitoring import monitoring_schema
    from pg_ops.engine.paths import monitoring_dir
    from pg_ops.local import daemons

    password = sandbox.monitoring_password()
    monitoring_schema.apply(dsn, password)
    work = Path(tempfile.mkdtemp(prefix="pgops-bench-alerts."))
    seen: dict[str, dict[str, Any]] = {}
    stop = threading.Event()
    with daemons.postgres_exporter(as_uri(monitoring_schema.role_dsn(dsn, password)),
                                   monitoring_dir() / "postgres_exporter" / "queries.yaml") as exporter:
        (work / "prometheus.yml").write_text(json.dumps({
            "global": {"scrape_interval": f"{interval_s}s", "evaluation_interval": f"{interval_s}s"},
            "rule_files": [str(monitoring_dir() / "prometheus" / "alerts.yml")],
            "scrape_configs": [{"job_name": "postgres", "static_configs": [
                {"targets": [exporter.removeprefix("http://").removesuffix("/metrics")]}]}]}))
        with daemons.prometheus(work / "prometheus.yml") as prometheus:
            started = time.monotonic()

            def poll() -> None:
                while not stop.wait(interval_s):
                    with urllib.request.urlopen(f"{prometheus}/api/v1/alerts", timeout=10) as response:
                        alerts = json.loads(response.read())["data"]["alerts"]
                    for alert in alerts:
                        labels = alert["labels"]
                        key = labels["alertname"] + json.dumps(labels, sort_keys=True)
                        entry = seen.setdefault(key, {
                            "alert": labels["alertname"], "severity": labels["severity"], "labels": labels,
                            "first_seen_s": round(time.monotonic() - started), "state": alert["state"],
                            "summary": alert["annotations"].get("summary", "")})
                        if alert["state"] == "firing":
                            entry["state"] = "firing"

            watcher = threading.Thread(target=poll, daemon=True)
            watcher.start()
            try:
                yield seen
            finally:
                stop.set()
                watcher.join(30)
    shutil.rmtree(work, ignore_errors=True)


def alert_incidents() -> dict[str, Any]:
    """Time from incident to webhook per provoked alert: the live-incident tests (the real exporter,
    Prometheus with the shipped rules, Alertmanager), run here for their figures. Hold-downs are scaled as the
    tests state; what is measured is everything else: scrape, evaluation, routing and delivery."""
    tests = project_root() / "tests" / "test_alert_incidents.py"
    if not tests.is_file():
        return {"not_measured": f"{tests} is not in this installation (a source checkout has it)"}
    figures = Path(tempfile.mkdtemp(prefix="pgops-bench-incidents.")) / "incidents.json"
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests), "-k", "not runbook"]
    run = subprocess.run(argv, cwd=project_root(), env={**os.environ, "PG_OPS_INCIDENT_FIGURES": str(figures)},
                         capture_output=True, text=True, check=False, timeout=1200)
    last_line = (run.stdout.strip().splitlines() or ["no output"])[-1]
    if not figures.is_file():
        return {"not_measured": f"the incident tests did not finish: {last_line}"}
    result: dict[str, Any] = json.loads(figures.read_text())
    result["tests"] = last_line
    shutil.rmtree(figures.parent, ignore_errors=True)
    return result


# Goals at 1,000,000 orders (issue 4): p95 in ms, and the speed-up over the baseline.
# Issue 12 added the shapes the app really sends: rolling windows, words by frequency, prefixes, page 2.
GOALS = {"driver_orders": (2, 20), "restaurant_catalog": (2, 20), "product_search": (10, 20),
         "analytics_dashboard": (25, 100), "restaurant_dashboard": (25, 100), "customer_history": (None, 20),
         "admin_order_list": (None, 20), "admin_order_list_page2": (10, None),
         "analytics_dashboard_rolling": (25, None), "analytics_dashboard_today": (25, None),
         "analytics_dashboard_postgrest": (25, None),
         "restaurant_dashboard_rolling": (10, None), "search_word_top": (20, None), "search_word_common": (10, None),
         "search_word_uncommon": (10, None), "search_word_rare": (10, None), "search_two_words": (10, None),
         "search_prefix": (15, None)}


def _suite(dsn: str, baseline: bool, budget_s: float) -> dict[str, Any]:
    run = benchmark.run_suite(dsn, suite.load(baseline=baseline), "bench", executions=200, warmup=6,
                              budget_s=budget_s)
    return {r.name: {"file": r.file, "executions": r.executions, "budget_hit": r.budget_hit,
                     "p50_ms": r.p50, "p95_ms": r.p95, "p99_ms": r.p99, "plan": r.plan_nodes[:8]}
            for r in run.results}


def _speed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    table = {}
    for name, a in after.items():
        b = before.get(name, {})
        goal_ms, goal_x = GOALS.get(name, (None, None))
        ratio95 = b["p95_ms"] / a["p95_ms"] if b.get("p95_ms") and a.get("p95_ms") else None
        table[name] = {"before": b, "after": a, "speedup_p50": b["p50_ms"] / a["p50_ms"] if b.get("p50_ms") and
                       a.get("p50_ms") else None, "speedup_p95": ratio95, "goal_p95_ms": goal_ms,
                       "goal_speedup": goal_x,
                       "meets_goal": (goal_ms is None or (a.get("p95_ms") or 1e9) <= goal_ms)
                       and (goal_x is None or (ratio95 or 0) >= goal_x)}
    return table


def monitoring_views(dsn: str, reads: int = 30, extra_tables: int = 1000, statements: int = 5000) -> dict[str, Any]:
    """Every monitoring view read once, as the monitoring role, with many tables and statements around."""
    from pg_ops.engine.monitoring import monitoring_schema

    password = sandbox.monitoring_password()
    monitoring_schema.apply(dsn, password)
    shapes = ["select count(*) from {} where id > 1", "select max(id) from {}", "select min(id) from {}",
              "select sum(id) from {}", "select exists (select 1 from {} where id = 1)"]
    with connection(dsn) as conn:
        conn.execute("create schema if not exists bench_extra")
        for i in range(extra_tables):
            conn.execute(sql.SQL("create table if not exists {} (id int primary key)").format(
                sql.Identifier("bench_extra", f"t{i}")))
        conn.execute("select extensions.pg_stat_statements_reset()")
        for n in range(statements):  # 5 shapes x 1,000 tables: 5,000 distinct statements
            table = sql.Identifier("bench_extra", f"t{n % extra_tables}")
            conn.execute(sql.SQL(shapes[(n // extra_tables) % len(shapes)]).format(table))
        entries = conn.execute("select count(*) as n from extensions.pg_stat_statements").fetchone()
    role = monitoring_schema.role_dsn(dsn, password)
    cold, warm, per_view = [], [], collections.defaultdict(list)
    for _ in range(reads):  # logging in as the role each time, as a one-shot reader does
        started = time.perf_counter()
        monitoring_schema.read_views(role)
        cold.append((time.perf_counter() - started) * 1000)
    with monitoring_schema.connect_as_role(role, purpose="bench", statement_timeout_ms=5000) as conn:
        monitoring_schema.read_each(conn)  # the first read on a new session loads its catalog caches
        for _ in range(reads):  # on an open connection, as postgres_exporter does
            started = time.perf_counter()
            for read in monitoring_schema.read_each(conn):
                per_view[read.view].append(read.seconds * 1000)
            warm.append((time.perf_counter() - started) * 1000)
    return {"reads": reads, "extra_tables": extra_tables, "statement_entries": int(entries["n"]) if entries else 0,
            "p50_ms": _percentile(warm, 0.5), "p95_ms": _percentile(warm, 0.95), "goal_p95_ms": 50,
            "with_login_p50_ms": _percentile(cold, 0.5), "with_login_p95_ms": _percentile(cold, 0.95),
            "per_view_p50_ms": {view: _percentile(t, 0.5) for view, t in sorted(per_view.items())}}


def snapshot_vs_exporter(dsn: str, ticks: int = 30) -> dict[str, Any]:
    """The monitoring_snapshot tick (kept connections, as the sensor runs) against postgres_exporter's
    scrape of the same views (its own default metrics off), alternating, on the same database."""
    from pg_ops.engine.monitoring import monitoring_schema, snapshot
    from pg_ops.engine.paths import monitoring_dir
    from pg_ops.local import daemons

    password = sandbox.monitoring_password()
    exporter_dsn = as_uri(monitoring_schema.role_dsn(dsn, password))
    tick_ms, scrape_ms, series = [], [], 0
    with daemons.pushgateway() as gateway, daemons.postgres_exporter(
            exporter_dsn, monitoring_dir() / "postgres_exporter" / "queries.yaml", only_queries=True) as exporter:
        taker = snapshot.Snapshotter(snapshot.SnapshotTarget(dsn=dsn, monitoring_password=password,
                                                             pushgateway_url=gateway))
        try:
            taker.tick()  # logs in and warms the session's caches, as the sensor's first tick does
            _scrape(exporter)
            for _ in range(ticks):
                outcome = taker.tick()
                if not outcome.ok:
                    raise PgOpsError(f"benchmark snapshot failed: {outcome.line()}")
                tick_ms.append(outcome.total_s * 1000)
                series = outcome.series
                scrape_ms.append(_scrape(exporter) * 1000)
        finally:
            taker.close()
    return {"ticks": ticks, "series_pushed": series,
            "tick_p50_ms": _percentile(tick_ms, 0.5), "tick_p95_ms": _percentile(tick_ms, 0.95), "goal_p95_ms": 100,
            "exporter_scrape_p50_ms": _percentile(scrape_ms, 0.5),
            "exporter_scrape_p95_ms": _percentile(scrape_ms, 0.95),
            "tick_over_scrape_p95": round(_percentile(tick_ms, 0.95) / _percentile(scrape_ms, 0.95), 2)}


def _scrape(exporter: str) -> float:
    """One scrape; the exporter's own figure for it, pg_exporter_last_scrape_duration_seconds."""
    with urllib.request.urlopen(exporter, timeout=60) as response:
        text = response.read().decode()
    match = re.search(r"^pg_exporter_last_scrape_duration_seconds(?:\{[^}]*\})? (\S+)$", text, re.MULTILINE)
    if not match:
        raise PgOpsError("postgres_exporter did not report pg_exporter_last_scrape_duration_seconds")
    return float(match.group(1))


def _percentile(timings: list[float], q: float) -> float:
    ordered = sorted(timings)
    return round(statistics.median(ordered) if q == 0.5 else ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def run(scale: float, out: Path | None = None) -> dict[str, Any]:
    info, _ = sandbox.up()
    dsn = _fresh_database(info)
    report = demo.load(dsn, scale=scale, seed=42)
    with connection(dsn) as conn:
        row = conn.execute("select pg_database_size(current_database()) as size, version() as version").fetchone()
    assert row is not None
    result = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "server": row["version"],
        "scale": scale,
        "demo_load": {"seconds": round(report.seconds, 1), "goal_seconds": 60,
                      "steps_seconds": {k: round(v, 2) for k, v in report.steps.items()},
                      "rows": report.rows, "database_bytes": int(row["size"])},
    }
    before = _suite(dsn, baseline=True, budget_s=20.0)
    result["lint"] = bench_lint.run(info, dsn)  # the demo as it is before the rollout (issue 17)
    writes_before = app_writes(info, dsn, seconds=WRITES_BEFORE_S, label="before")
    # As the baseline asset does: the matrix the rollback's proof compares with (issue 15).
    rls_matrix.save(dsn, rls_matrix.take(dsn), rls_matrix.BEFORE_REWRITE)
    with alert_watch(dsn) as alerts:
        result["rollout"] = rollout_under_load(info, dsn)
        result["after_rollout"] = app_writes(info, dsn, seconds=AFTER_ROLLOUT_S, label="after")
    p95_before = writes_before["write_latency_ms"].get("p95")
    p95_after = result["after_rollout"]["write_latency_ms"].get("p95")
    result["write_cost"] = {"before": writes_before, "after_p95_ms": p95_after, "goal_ratio": 1.5,
                            "p95_after_over_before": round(p95_after / p95_before, 2)
                            if p95_before and p95_after else None}
    result["alerts"] = {"watched": f"the rollout under write load and {AFTER_ROLLOUT_S // 60} minutes of writes after "
                                   "it, shipped rules and hold-downs, evaluated every 5 s",
                        "critical": [a for a in alerts.values() if a["severity"] == "critical"],
                        "warnings": [a for a in alerts.values() if a["severity"] != "critical"]}
    result["queries"] = _speed(before, _suite(dsn, baseline=False, budget_s=20.0))
    result["monitoring_views"] = monitoring_views(dsn)
    result["snapshot"] = snapshot_vs_exporter(dsn)
    result["reports"] = bench_reports.run(dsn)  # repeats the snapshot part's last tick and capture
    result["alert_incidents"] = alert_incidents()
    result["pooler"] = bench_pooler.run(info, dsn)
    result["rollback"] = bench_rollback.run(dsn, _app_writes_argv(info, dsn, 200, 4, 3600), state_dir() / "bench",
                                            state_dir() / "bench" / "backups")
    result["advisor"] = bench_advisor.run(dsn, _app_writes_argv(info, dsn, 200, 4, 3600), state_dir() / "bench")
    destination = out or state_dir() / "bench" / "bench.json"
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(json.dumps(result, indent=2) + "\n")
    result["written_to"] = str(destination)
    return result


def table(result: dict[str, Any]) -> str:
    load = result["demo_load"]
    m = result["machine"]
    lines = [
        f"pg_ops benchmark, scale {result['scale']:g}, {result['measured_at']}",
        f"machine: {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB; {result['server'].split(',')[0]}",
        "",
        "| figure | measured | goal |",
        "|---|---|---|",
        f"| demo load ({load['rows']['public.orders']:,} orders, {load['rows']['public.order_items']:,} items) "
        f"| {load['seconds']:.1f} s | <= {load['goal_seconds']} s |",
        f"| database size after load | {load['database_bytes'] / 2**20:,.0f} MiB | |",
    ]
    r, views, snap, cost = result["rollout"], result["monitoring_views"], result["snapshot"], result["write_cost"]
    lines += [
        f"| rollout under write load: backup + verify + {r['files_applied']} files | {r['rollout_s']:.1f} s "
        f"(backup {r['backup_s']:.1f} s, restore check {r['backup_restore_check_s']:.1f} s) | |",
        f"| migrations wall / their statements | {r['migrations_wall_s']:.2f} s / {r['migration_statements_s']:.2f} s "
        f"= {r['migrations_wall_over_statements']:.2f}x | <= 1.3x |",
        f"| failed writes during the rollout ({r['transactions']:,} transactions) | {r['failed_transactions']} failed, "
        f"{r['aborted_clients']} clients aborted | 0 |",
        f"| writes stalled > 1 s | {r['stalls_over_1s']} (max {r['write_latency_ms'].get('max', 0):.1f} ms, "
        f"p99 {r['write_latency_ms'].get('p99', 0):.1f} ms) | 0 |",
        f"| load | {r['load']} | |",
        f"| application write p95 after / before the rollout (its triggers: rollups, search documents) "
        f"| {_ms(cost['after_p95_ms'])} / {_ms(cost['before']['write_latency_ms'].get('p95'))} = "
        f"{'-' if cost['p95_after_over_before'] is None else format(cost['p95_after_over_before'], '.2f')}x "
        f"| <= {cost['goal_ratio']}x |",
        f"| alerts during the rollout under write load and {AFTER_ROLLOUT_S // 60} min after it (shipped rules) "
        f"| {len(result['alerts']['critical'])} critical, {len(result['alerts']['warnings'])} warning(s)"
        f"{': ' if result['alerts']['warnings'] else ''}"
        f"{'; '.join(w['alert'] + ' (' + w['state'] + ': ' + w['summary'] + ')' for w in result['alerts']['warnings'])}"
        f" | 0 critical |",
        f"| all monitoring views read once ({views['extra_tables']:,} extra tables, {views['statement_entries']:,} "
        f"statements), open connection | p95 {views['p95_ms']} ms (p50 {views['p50_ms']} ms) | <= 50 ms |",
        f"| the same, logging in as `monitoring` first | p95 {views['with_login_p95_ms']} ms "
        f"(p50 {views['with_login_p50_ms']} ms) | |",
        f"| monitoring_snapshot tick: read, push {snap['series_pushed']:,} series, save history "
        f"| p95 {snap['tick_p95_ms']} ms (p50 {snap['tick_p50_ms']} ms) | <= {snap['goal_p95_ms']} ms |",
        f"| postgres_exporter scrape of the same views, alternating with the ticks "
        f"| p95 {snap['exporter_scrape_p95_ms']} ms (p50 {snap['exporter_scrape_p50_ms']} ms) | |",
        f"| tick / scrape (p95) | {snap['tick_over_scrape_p95']:.2f}x | <= 1x |",
    ]
    lines += report_rows(result.get("reports"))
    lines += pooler_rows(result.get("pooler"))
    lines += bench_rollback.rows(result.get("rollback"))
    lines += bench_lint.rows(result.get("lint"))
    lines += bench_advisor.rows(result.get("advisor"))
    incidents = result.get("alert_incidents", {})
    if "incidents" in incidents:
        lines += ["", f"Incident to webhook, per alert (live incidents; hold-downs x{incidents['for_scale']:.4f}, "
                      f"scrapes every {incidents['scrape_interval_s']} s; {incidents['tests']}):", "",
                  "| alert | threshold | hold-down (scaled) | incident -> webhook | promise |", "|---|---|---|---|---|"]
        lines += [f"| {i['alert']} | {i['threshold_s']:g} s | {i['hold_down_s']:g} s | {i['seconds']:.1f} s "
                  f"| <= {i['promise_s']:.1f} s |" for i in incidents["incidents"]]
    elif incidents:
        lines += ["", f"Incident to webhook: not measured ({incidents['not_measured']})"]
    lines += [
        "",
        "| query | p50 before | p50 after | p95 before | p95 after | speed-up p95 | goal p95 | goal speed-up |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, q in result["queries"].items():
        b, a = q["before"], q["after"]
        note = f" (n={b.get('executions')}, time budget)" if b.get("budget_hit") else ""
        lines.append(
            f"| {name} | {_ms(b.get('p50_ms'))} | {_ms(a.get('p50_ms'))} | {_ms(b.get('p95_ms'))}{note} | "
            f"{_ms(a.get('p95_ms'))} | {_x(q['speedup_p95'])} | {_ms(q['goal_p95_ms'])} | {_x(q['goal_speedup'])} "
            f"{'met' if q['meets_goal'] else '**not met**'} |")
    return "\n".join(lines)


def report_rows(reports: dict[str, Any] | None) -> list[str]:
    if not reports:
        return []
    return [
        f"| daily report of one day: {reports['ticks_per_day']:,} snapshots, {reports['captures_per_day']} captures of "
        f"{reports['statements_per_capture']:,} statements | {reports['one_day_s']:.2f} s "
        f"| < {reports['one_day_goal_s']} s |",
        f"| {reports['backfill_days']}-day backfill in one run | {reports['backfill_s']:.1f} s "
        f"| < {reports['backfill_goal_s']} s |",
        f"| history per day: snapshots / statement captures | {reports['snapshot_bytes_per_day'] / 2**20:,.1f} MiB / "
        f"{reports['capture_bytes_per_day'] / 2**20:,.1f} MiB | |",
    ]


def pooler_rows(pooler: dict[str, Any] | None) -> list[str]:
    if not pooler:
        return []
    per_tx, kept = pooler["load"]["connection_per_transaction"], pooler["load"]["kept_connections"]
    errors = sum(run["errors"] for runs in pooler["load"].values() for run in runs.values())
    return [
        f"| {pooler['clients']} clients, a connection per transaction (-C), {pooler['seconds_each']} s each: "
        f"transactions/s through PgBouncer / direct | {per_tx['pgbouncer']['tps']} / {per_tx['direct']['tps']} = "
        f"{_x(pooler['tps_pgbouncer_over_direct_connect_per_transaction'])} | >= 3x |",
        f"| the same: CPU the database host spends per transaction, without pgbench's own, direct / PgBouncer "
        f"| {per_tx['direct']['server_side_cpu_ms_per_transaction']} / "
        f"{per_tx['pgbouncer']['server_side_cpu_ms_per_transaction']} ms = "
        f"{_x(pooler['server_cpu_direct_over_pgbouncer_connect_per_transaction'])} | |",
        f"| {pooler['clients']} kept connections: p95 through PgBouncer / direct "
        f"| {_ms(kept['pgbouncer']['p95_ms'])} / {_ms(kept['direct']['p95_ms'])} = "
        f"{pooler['p95_pgbouncer_over_direct_kept']:.2f}x "
        f"({kept['pgbouncer']['tps']} / {kept['direct']['tps']} transactions/s) | <= 1.3x |",
        f"| errors in the four pgbench runs ({pooler['mix']}) | {errors} | 0 |",
        f"| maintenance run: render, candidate, deploy, verify ({pooler['maintenance_changes']} settings changed) "
        f"| {pooler['maintenance_run_s']:.2f} s | < 10 s |",
        f"| a forced failure (smoke queries refused) rolled back: whole run / the rollback itself "
        f"| {pooler['forced_failure_s']:.2f} s / {pooler['rollback_s']:.3f} s | < 5 s |",
        f"| failed client queries through the pooler during the maintenance run and the rollback "
        f"| {pooler['failed_queries_during_maintenance'] + pooler['failed_queries_during_rollback']} of "
        f"{pooler['queries_during_maintenance'] + pooler['queries_during_rollback']:,} | 0 |",
    ]


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.2f} ms"


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}x" if value >= 10 else f"{value:.1f}x"
