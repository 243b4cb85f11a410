"""PgBouncer's figures from its admin console, pushed to the Pushgateway (group {job, pooler=host:port}).

Why not Debian's prometheus-pgbouncer-exporter (1.7): it exports neither the longest wait (maxwait) nor
server connections in use, so "long waits" and "pool saturation" could not be alerted on; it takes no
password; and it opens its console connection once, at start, so a pooler restart leaves it failing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import psycopg
from prometheus_client import CollectorRegistry, Gauge

from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.monitoring import push
from pg_ops.engine.pooler import candidate
from pg_ops.engine.pooler.deploy import Deployment, LivePooler, open_console

POOLS_JOB = "pg_ops_pgbouncer"
DEPLOY_JOB = "pg_ops_pgbouncer_deploy"
ADMIN_DATABASE = "pgbouncer"  # the console's own pseudo-database: not a pool


@dataclass
class PoolerReading:
    pooler: str
    up: bool
    error: str = ""
    pools: list[dict[str, str]] = field(default_factory=list)
    databases: list[dict[str, str]] = field(default_factory=list)
    stats: list[dict[str, str]] = field(default_factory=list)

    def line(self) -> str:
        if not self.up:
            return f"PgBouncer {self.pooler} down: {self.error}"
        waiting = sum(int(p.get("cl_waiting", "0") or 0) for p in self.pools)
        active = sum(int(p.get("sv_active", "0") or 0) for p in self.pools)
        return f"PgBouncer {self.pooler}: {len(self.pools)} pool(s), {active} server connection(s) active, " \
               f"{waiting} client(s) waiting"


def read(pooler: LivePooler) -> PoolerReading:
    try:
        with open_console(pooler) as conn:
            return PoolerReading(pooler=pooler.label, up=True,
                                 pools=[p for p in candidate.show(conn, "POOLS") if p["database"] != ADMIN_DATABASE],
                                 databases=[d for d in candidate.show(conn, "DATABASES")
                                            if d["name"] != ADMIN_DATABASE],
                                 stats=[s for s in candidate.show(conn, "STATS") if s["database"] != ADMIN_DATABASE])
    except (PgOpsError, psycopg.Error) as exc:
        return PoolerReading(pooler=pooler.label, up=False, error=str(exc))


def _int(row: dict[str, str], key: str) -> float:
    try:
        return float(row.get(key, "") or 0)
    except ValueError:
        return 0.0


def registry_for(reading: PoolerReading) -> CollectorRegistry:
    registry = CollectorRegistry()
    Gauge("pg_ops_pgbouncer_up", "1 when the pooler's admin console answered the last reading",
          registry=registry).set(1 if reading.up else 0)
    Gauge("pg_ops_pgbouncer_reading_timestamp_seconds", "When the pooler was last read (Unix time)",
          registry=registry).set(time.time())
    pool_labels = ["database", "user"]
    per_pool = {
        "clients_active": ("cl_active", "Client connections linked to a server connection"),
        "clients_waiting": ("cl_waiting", "Client connections that sent a query and wait for a server connection"),
        "servers_active": ("sv_active", "Server connections linked to a client"),
        "servers_idle": ("sv_idle", "Server connections idle and ready"),
    }
    gauges = {name: Gauge(f"pg_ops_pgbouncer_{name}", text, pool_labels, registry=registry)
              for name, (_, text) in per_pool.items()}
    max_wait = Gauge("pg_ops_pgbouncer_max_wait_seconds", "How long the oldest waiting client has waited",
                     pool_labels, registry=registry)
    for pool in reading.pools:
        labels = {"database": pool["database"], "user": pool["user"]}
        for name, (column, _) in per_pool.items():
            gauges[name].labels(**labels).set(_int(pool, column))
        max_wait.labels(**labels).set(_int(pool, "maxwait") + _int(pool, "maxwait_us") / 1e6)
    pool_size = Gauge("pg_ops_pgbouncer_pool_size", "Server connections a pool may open (default_pool_size)",
                      ["database"], registry=registry)
    reserve = Gauge("pg_ops_pgbouncer_reserve_pool_size", "Extra server connections for bursts", ["database"],
                    registry=registry)
    for database in reading.databases:
        pool_size.labels(database=database["name"]).set(_int(database, "pool_size"))
        reserve.labels(database=database["name"]).set(_int(database, "reserve_pool"))
    totals = {
        "transactions_total": ("total_xact_count", 1.0, "Transactions pooled since start"),
        "queries_total": ("total_query_count", 1.0, "Queries pooled since start"),
        "client_wait_seconds_total": ("total_wait_time", 1e-6, "Time clients spent waiting for a server"),
    }
    for name, (column, scale, text) in totals.items():
        gauge = Gauge(f"pg_ops_pgbouncer_{name}", text, ["database"], registry=registry)
        for row in reading.stats:
            gauge.labels(database=row["database"]).set(_int(row, column) * scale)
    return registry


def push_reading(url: str, reading: PoolerReading, timeout_s: float = 5.0) -> None:
    push.push(url, POOLS_JOB, reading.pooler, registry_for(reading), timeout_s, "the PgBouncer figures", key="pooler")


def push_deployment(url: str, done: Deployment, timeout_s: float = 5.0) -> None:
    """The last maintenance run's outcome: whether the new configuration runs, and whether it rolled back."""
    registry = CollectorRegistry()
    Gauge("pg_ops_pgbouncer_deploy_success", "1 when the last maintenance run left its configuration running",
          registry=registry).set(1 if done.ok else 0)
    Gauge("pg_ops_pgbouncer_deploy_rolled_back", "1 when the last maintenance run rolled back", registry=registry
          ).set(1 if done.outcome in ("rolled_back", "rollback_failed") else 0)
    Gauge("pg_ops_pgbouncer_deploy_rollback_failed", "1 when the last rollback did not restore the running values",
          registry=registry).set(1 if done.outcome == "rollback_failed" else 0)
    Gauge("pg_ops_pgbouncer_deploy_duration_seconds", "How long the last maintenance run's deploy took",
          registry=registry).set(done.seconds)
    Gauge("pg_ops_pgbouncer_deploy_timestamp_seconds", "When the last maintenance run ended (Unix time)",
          registry=registry).set(time.time())
    push.push(url, DEPLOY_JOB, done.pooler, registry, timeout_s, "the PgBouncer deploy outcome", key="pooler")
