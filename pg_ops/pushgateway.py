"""Pushing outcomes to a Prometheus Pushgateway, with prometheus-client. Optional: no URL, no push."""

from __future__ import annotations

import time
from urllib.error import URLError

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway

from pg_ops.benchmark import SuiteRun
from pg_ops.errors import PgOpsError


def push_validation(url: str, database: str, run: SuiteRun, passed: bool, timeout_s: float = 5.0) -> int:
    """p95 per query, pass/fail and a timestamp, grouped by database. PUT: series of dropped queries vanish."""
    registry = CollectorRegistry()
    p95 = Gauge("pg_ops_validation_p95_seconds", "p95 latency of a suite query in the last validation",
                ["query"], registry=registry)
    executions = Gauge("pg_ops_validation_executions", "Timed executions of a suite query in the last validation",
                       ["query"], registry=registry)
    for result in run.results:
        if result.p95 is not None:
            p95.labels(query=result.name).set(result.p95 / 1000)
            executions.labels(query=result.name).set(result.executions)
    Gauge("pg_ops_validation_passed", "1 when every query met its target and used its index, else 0",
          registry=registry).set(1 if passed else 0)
    Gauge("pg_ops_validation_timestamp_seconds", "When the last validation finished (Unix time)",
          registry=registry).set(time.time())
    try:
        push_to_gateway(url, job="pg_ops_validation", registry=registry, grouping_key={"database": database},
                        timeout=timeout_s)
    except (URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PgOpsError(f"Pushgateway {url} did not take the validation outcome: {reason}") from None
    return len(run.results)


def push_backup(url: str, database: str, size_bytes: int, seconds: float, verified: bool,
                timeout_s: float = 5.0) -> None:
    """The last successful backup: when, how big, how long, and whether a restore verified it."""
    registry = CollectorRegistry()
    Gauge("pg_ops_backup_last_success_timestamp_seconds", "When the last successful backup finished (Unix time)",
          registry=registry).set(time.time())
    Gauge("pg_ops_backup_size_bytes", "Size of the last backup, bytes", registry=registry).set(size_bytes)
    Gauge("pg_ops_backup_duration_seconds", "How long pg_dump took", registry=registry).set(seconds)
    Gauge("pg_ops_backup_restore_verified", "1 when the last backup was restored and counted", registry=registry
          ).set(1 if verified else 0)
    try:
        push_to_gateway(url, job="pg_ops_backup", registry=registry, grouping_key={"database": database},
                        timeout=timeout_s)
    except (URLError, OSError) as exc:
        raise PgOpsError(f"Pushgateway {url} did not take the backup outcome: {getattr(exc, 'reason', exc)}") from None
