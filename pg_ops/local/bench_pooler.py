"""`make bench`, PgBouncer part: 50 pgbench clients with the app's read/write mix, through PgBouncer
(transaction pooling) and directly, side by side, with a connection per transaction (-C, as serverless
functions connect) and with kept connections; and the maintenance run and a forced rollback timed while
clients query through the pooler."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
from psycopg import conninfo

from pg_ops.engine import sqlfiles
from pg_ops.engine.backup import libpq_env
from pg_ops.engine.db import Target, connection
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.paths import sql_dir, state_dir
from pg_ops.engine.pooler import config, deploy, maintenance
from pg_ops.engine.pooler.deploy import LivePooler, Policy, SmokeLogin
from pg_ops.local import pgbench_log, pooler, sandbox

CLIENTS = 50
SECONDS = 30
READS_PER_WRITE = 4  # pgbench -f weights: four customers reading for one placing an order


def _argv(info: sandbox.SandboxInfo, dsn: str, connect_per_transaction: bool, prefix: Path) -> list[str]:
    with connection(dsn) as conn:
        params = conn.execute("select * from pgops_demo.params").fetchone()
    assert params is not None
    scripts = sql_dir() / "bench"
    return [str(Path(info.bindir) / "pgbench"), "-n", "-c", str(CLIENTS), "-j", "2", "-T", str(SECONDS),
            "-f", f"{scripts / 'pooler_read.sql'}@{READS_PER_WRITE}", "-f", f"{scripts / 'pooler_write.sql'}@1",
            "-D", f"seed={params['seed']}", "-D", f"n_customers={params['n_customers']}",
            "-D", f"n_restaurants={params['n_restaurants']}", "-l", f"--log-prefix={prefix}",
            *(["-C"] if connect_per_transaction else [])]


def _busy_cpu_s() -> float:
    """CPU seconds the whole machine spent busy so far (/proc/stat, all cores)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pgbench(info: sandbox.SandboxInfo, dsn: str, app_dsn: str, label: str, connect_per_transaction: bool,
            ) -> dict[str, Any]:
    work = state_dir() / "bench" / "pooler"
    work.mkdir(parents=True, exist_ok=True)
    prefix = work / f"pgbench_{label}"
    for old in work.glob(prefix.name + ".*"):
        old.unlink()
    busy_before, client_before = _busy_cpu_s(), _children_cpu_s()
    done = subprocess.run(_argv(info, dsn, connect_per_transaction, prefix), env=libpq_env(app_dsn),
                          capture_output=True, text=True, check=False, timeout=SECONDS + 180, cwd=work)
    client_cpu = _children_cpu_s() - client_before
    host_cpu = _busy_cpu_s() - busy_before
    output = done.stdout + done.stderr
    tps = re.search(r"tps = ([\d.]+) \((?:without initial connection time|including reconnection times)\)", output)
    failed = re.search(r"number of failed transactions: (\d+)", output)
    latencies = pgbench_log.latencies_us(prefix)
    errors = (int(failed.group(1)) if failed else 0) + sum("aborted" in line for line in output.splitlines())
    if done.returncode not in (0, 2) or not latencies:
        errors = max(errors, 1)
    return {"tps": round(float(tps.group(1)), 1) if tps else None,
            "transactions": len(latencies), "errors": errors,
            "p50_ms": round(latencies[len(latencies) // 2] / 1000, 2) if latencies else None,
            "p95_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))] / 1000, 2)
            if latencies else None,
            "pgbench_exit": done.returncode,
            # What the database host pays, without the load generator's own CPU (on this machine pgbench's
            # per-connection SCRAM proof alone takes most of a core):
            "client_cpu_s": round(client_cpu, 1), "host_cpu_s_without_client": round(host_cpu - client_cpu, 1),
            "server_side_cpu_ms_per_transaction": round(1000 * (host_cpu - client_cpu) / len(latencies), 3)
            if latencies else None,
            "first_error": next((line for line in output.splitlines() if "error" in line.lower()), "")}


class _Querying:
    """One client querying through the pooler without pause, counting failures, while something happens."""

    def __init__(self, host: str, port: int, login: SmokeLogin) -> None:
        self.where, self.login = (host, port), login
        self.stop, self.queries, self.failures = threading.Event(), 0, 0
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        with psycopg.connect(host=self.where[0], port=self.where[1], dbname=self.login.database,
                             user=self.login.user, password=self.login.password, prepare_threshold=None,
                             autocommit=True) as conn:
            while not self.stop.is_set():
                try:
                    conn.execute("select now()").fetchone()
                    self.queries += 1
                except psycopg.Error:
                    self.failures += 1

    def __enter__(self) -> _Querying:
        self.thread.start()
        time.sleep(0.3)
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(10)


def run(info: sandbox.SandboxInfo, dsn: str) -> dict[str, Any]:
    """Everything the issue-13 figures need, on the bench database (the rollout already applied)."""
    with connection(dsn) as conn:
        conn.execute(sqlfiles.read("bench/pooler_grants.sql"))
    root = state_dir() / "bench" / "pooler"
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    state_dir().chmod(state_dir().stat().st_mode | 0o011)
    (state_dir() / "bench").chmod(0o755)
    started_pooler, _ = pooler.up(dsn, root=root, port=sandbox.free_port())
    try:
        return _measure(info, dsn, started_pooler)
    finally:
        pooler.down(root)


def _measure(info: sandbox.SandboxInfo, dsn: str, started: pooler.PoolerInfo) -> dict[str, Any]:
    live = LivePooler(ini=Path(started.ini), host="127.0.0.1", port=started.port, admin_user="pgbouncer_admin",
                      admin_password=started.admin_password)
    login = SmokeLogin(started.database, pooler.APP_USER, started.app_password)
    server = conninfo.conninfo_to_dict(dsn)
    run = maintenance.Maintenance(settings=config.PoolerSettings(), live=live, server_host="127.0.0.1",
                                  server_port=int(server.get("port") or 5432), database=started.database, login=login,
                                  policy=Policy(override_window="make bench: a sandbox has no maintenance window"))
    target = Target(dsn=dsn)
    with _Querying(live.host, live.port, login) as during_deploy:
        began = time.perf_counter()
        proven = maintenance.prove_candidate(target, run)
        done = maintenance.deploy_live(target, run, proven)
        maintenance_s = time.perf_counter() - began
    # A forced failure: valid settings (min_pool_size 5) whose smoke queries log in with a wrong password.
    broken_login = replace(run, settings=replace(run.settings, min_pool_size=5),
                           login=replace(login, password="not-the-app-password"))
    with _Querying(live.host, live.port, login) as during_rollback:
        began = time.perf_counter()
        failure, rollback = "", None
        try:
            maintenance.deploy_live(target, broken_login, maintenance.prove_candidate(target, run_with(run, 5)))
        except deploy.DeployFailed as failed:
            failure, rollback = str(failed), failed.deployment
        rollback_s = time.perf_counter() - began
    if rollback is None:
        raise PgOpsError("bench: the forced failure deployed; the rollback could not be measured")
    app = conninfo.make_conninfo(dsn, user=login.user, password=login.password)
    through = conninfo.make_conninfo(app, host="127.0.0.1", port=str(live.port))
    kinds = {"kept_connections": False, "connection_per_transaction": True}
    # Direct first: afterwards the pooler holds its idle server connections for server_idle_timeout, and
    # direct clients would meet a server with fewer free slots than they had.
    load: dict[str, dict[str, Any]] = {kind: {} for kind in kinds}
    for route, dsn_for_route in (("direct", app), ("pgbouncer", through)):
        for kind, connect_each in kinds.items():
            load[kind][route] = pgbench(info, dsn, dsn_for_route, f"{route}_{kind}", connect_each)
    per_tx, kept = load["connection_per_transaction"], load["kept_connections"]
    return {
        "clients": CLIENTS, "seconds_each": SECONDS,
        "mix": f"{READS_PER_WRITE} reads (a customer's latest orders) : 1 write (an order placed), each a transaction "
               "with SET LOCAL ROLE and JWT claims, under RLS",
        "pool_mode": done.after.get("pool_mode"), "default_pool_size": done.after.get("default_pool_size"),
        "load": load,
        "tps_pgbouncer_over_direct_connect_per_transaction": _ratio(per_tx["pgbouncer"]["tps"],
                                                                    per_tx["direct"]["tps"]),
        "server_cpu_direct_over_pgbouncer_connect_per_transaction": _ratio(
            per_tx["direct"]["server_side_cpu_ms_per_transaction"],
            per_tx["pgbouncer"]["server_side_cpu_ms_per_transaction"]),
        "p95_pgbouncer_over_direct_kept": _ratio(kept["pgbouncer"]["p95_ms"], kept["direct"]["p95_ms"]),
        "maintenance_run_s": round(maintenance_s, 2), "maintenance_outcome": done.outcome,
        "maintenance_changes": len(done.changes),
        "failed_queries_during_maintenance": during_deploy.failures,
        "queries_during_maintenance": during_deploy.queries,
        "forced_failure_s": round(rollback_s, 2),
        "rollback_s": round(rollback.rollback_seconds or 0.0, 3),
        "rollback_outcome": rollback.outcome, "forced_failure": failure,
        "failed_queries_during_rollback": during_rollback.failures,
        "queries_during_rollback": during_rollback.queries,
    }


def run_with(run: maintenance.Maintenance, min_pool_size: int) -> maintenance.Maintenance:
    return replace(run, settings=replace(run.settings, min_pool_size=min_pool_size))


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None
