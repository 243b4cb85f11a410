"""Pushing outcomes to a Prometheus Pushgateway, with prometheus-client. Optional: no URL, no push."""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping, Sequence
from urllib.error import HTTPError, URLError

from prometheus_client import CollectorRegistry, Gauge, delete_from_gateway, push_to_gateway, pushadd_to_gateway

from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.proof.benchmark import SuiteRun


def push(url: str, job: str, database: str, registry: CollectorRegistry, timeout_s: float, what: str,
         key: str = "database") -> None:
    """PUT: the group {job, key=database} becomes exactly this registry, so series that vanished vanish there too.
    (A pooler's group is keyed by `pooler`, its host:port.)"""
    try:
        push_to_gateway(url, job=job, registry=registry, grouping_key={key: database}, timeout=timeout_s)
    except (URLError, OSError) as exc:
        raise PgOpsError(f"Pushgateway {url} did not take {what}: {_reason(exc, timeout_s)}") from None


def delete(url: str, job: str, database: str, timeout_s: float) -> None:
    """Remove the group {job, database} from the gateway (a database no longer watched)."""
    try:
        delete_from_gateway(url, job=job, grouping_key={"database": database}, timeout=timeout_s)
    except (URLError, OSError) as exc:
        raise PgOpsError(f"Pushgateway {url} did not delete {job} of {database}: {_reason(exc, timeout_s)}") from None


def _reason(exc: BaseException, timeout_s: float) -> str:
    if isinstance(exc, HTTPError):  # the gateway says what it refused in the body
        body = exc.read().decode(errors="replace").strip()
        return f"HTTP {exc.code}: {body.splitlines()[0][:300] if body else exc.reason}"
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"no answer within {timeout_s:g} s"
    return str(reason).strip().splitlines()[0] if str(reason).strip() else type(reason).__name__


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
    push(url, "pg_ops_validation", database, registry, timeout_s, "the validation outcome")
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
    push(url, "pg_ops_backup", database, registry, timeout_s, "the backup outcome")


def push_restore_drill(url: str, database: str, restore_seconds: float, ratio: float, passed: bool,
                       timeout_s: float = 5.0) -> None:
    """The drill's outcome. POST, not PUT: a failed drill replaces the result and the time but keeps the
    last successful drill's timestamp, which is what the staleness alert reads."""
    registry = CollectorRegistry()
    Gauge("pg_ops_restore_drill_success", "1 when the last restore drill restored the newest backup and every "
          "check held, else 0", registry=registry).set(1 if passed else 0)
    Gauge("pg_ops_restore_drill_seconds", "How long pg_restore took in the last drill: the time to restore",
          registry=registry).set(restore_seconds)
    Gauge("pg_ops_restore_drill_ratio", "pg_restore's time over pg_dump's, in the last drill",
          registry=registry).set(ratio)
    if passed:
        Gauge("pg_ops_restore_drill_last_success_timestamp_seconds", "When the last successful restore drill "
              "finished (Unix time)", registry=registry).set(time.time())
    try:
        pushadd_to_gateway(url, job="pg_ops_restore_drill", registry=registry, grouping_key={"database": database},
                           timeout=timeout_s)
    except (URLError, OSError) as exc:
        raise PgOpsError(f"Pushgateway {url} did not take the restore drill's outcome: {_reason(exc, timeout_s)}"
                         ) from None


def push_lint(url: str, database: str, counts: Mapping[tuple[str, str, str], int],
              rules: Sequence[tuple[str, str, str]],
              security: Sequence[tuple[str, str]], seconds: float, timeout_s: float = 5.0) -> None:
    """Open lint findings per rule (0 for every rule without any, so absent means "not linted"), one series per
    open security finding (what the new-finding alert compares with the day before), and when. PUT: a fixed
    finding's series vanishes."""
    registry = CollectorRegistry()
    per_rule = Gauge("pg_ops_lint_findings", "Open findings of pg-ops lint, per rule", ["rule", "category", "severity"],
                     registry=registry)
    for key in rules:
        per_rule.labels(*key).set(counts.get(key, 0))
    found = Gauge("pg_ops_lint_security_finding", "1 for each open security finding of pg-ops lint",
                  ["rule", "object"], registry=registry)
    for rule, obj in security:
        found.labels(rule=rule, object=obj).set(1)
    Gauge("pg_ops_lint_seconds", "How long the last lint took", registry=registry).set(seconds)
    Gauge("pg_ops_lint_timestamp_seconds", "When the last lint finished (Unix time)", registry=registry
          ).set(time.time())
    push(url, "pg_ops_lint", database, registry, timeout_s, "the lint findings")
