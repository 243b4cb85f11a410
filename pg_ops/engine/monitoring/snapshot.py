"""One monitoring snapshot: every monitoring view read as the `monitoring` role, pushed to a Pushgateway as
gauges (PUT, one group per database) and written to pgops.monitoring_snapshots for the reports.

No Dagster here: the monitoring_snapshot sensor keeps a Snapshotter per database and calls tick(). A tick
never raises for an outage; it says in one line what happened, and writes the history row whenever the
database is up, pushed or not."""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import functools
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from psycopg import sql
from psycopg.types.json import Jsonb

from pg_ops.engine import sqlfiles
from pg_ops.engine.db import Connection, Target, connect, describe
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.monitoring import monitoring_schema, push
from pg_ops.engine.monitoring.monitoring_schema import ViewRead

JOB = "pg_ops_snapshot"
HISTORY_ROWS = 20  # per view in the history: enough for a report's top-N, bounded at 1,000 tables


@dataclass(frozen=True)
class ViewMetrics:
    """How one view's rows become gauges `pg_ops_snapshot_<view>_<column>`."""

    labels: tuple[str, ...] = ()  # the columns that name a row
    rank_by: str | None = None  # rows are taken largest first by this column, else in the view's order
    top: int | None = None  # only this many rows: bounds the series (postgres_exporter has them all)
    per_row: bool = True  # False: rows are named by a pid or text, so only the maximum of each value
    values: tuple[str, ...] | None = None  # the columns that become gauges; None: every number not a label


PER_TABLE_ROWS = 50
VIEW_METRICS: dict[str, ViewMetrics] = {
    "cache_hit_ratio": ViewMetrics(("scope", "name"), rank_by="reads", top=PER_TABLE_ROWS),
    "connections": ViewMetrics(),
    "database_size": ViewMetrics(),
    "duplicate_indexes": ViewMetrics(("schema", "table_name", "redundant_index", "covered_by"),
                                     rank_by="redundant_bytes", top=PER_TABLE_ROWS),
    "index_usage": ViewMetrics(("schema", "table_name", "index_name"), rank_by="size_bytes", top=PER_TABLE_ROWS),
    "invalid_indexes": ViewMetrics(("schema", "table_name", "index_name"), top=PER_TABLE_ROWS),
    "lock_waits": ViewMetrics(per_row=False, rank_by="waiting_s", values=("waiting_s", "blocker_transaction_s")),
    "query_performance": ViewMetrics(("queryid", "username"), top=20),
    "rpc_performance": ViewMetrics(("schema", "function_name"), rank_by="total_ms", top=PER_TABLE_ROWS),
    "slow_queries": ViewMetrics(per_row=False, rank_by="running_s", values=("running_s",)),
    "statements_info": ViewMetrics(),
    "table_statistics": ViewMetrics(("schema", "table_name"), rank_by="total_bytes", top=PER_TABLE_ROWS),
    "unindexed_foreign_keys": ViewMetrics(("schema", "table_name", "constraint_name"), top=PER_TABLE_ROWS),
}


def ranked(read: ViewRead, limit: int | None = None) -> list[dict[str, Any]]:
    """The rows of a read that a snapshot keeps: largest first by the view's rank, at most its top."""
    spec = VIEW_METRICS.get(read.view, ViewMetrics())
    rows = read.rows
    if (rank_by := spec.rank_by) is not None:
        rows = sorted(rows, key=lambda r: _number(r.get(rank_by)) or 0.0, reverse=True)
    limits = [n for n in (spec.top, limit) if n is not None]
    return rows[: min(limits)] if limits else rows


@dataclass(frozen=True)
class SnapshotTarget:
    """One watched database. `dsn` is the owner's (it writes the history); views are read as `monitoring`."""

    dsn: Target | str = field(repr=False)  # reprs end up in logs and error reports; these may hold passwords
    monitoring_password: str = field(repr=False)
    pushgateway_url: str = ""
    view_timeout_ms: int = 2000
    push_timeout_s: float = 2.0
    retention_days: float = 14.0
    deadline_s: float = 20.0  # a tick stops reading views after this, well inside the sensor's 60 s limit
    parallel_reads: int = 2  # sessions reading views at once; the views are independent statements
    capture_every_s: float = 3600.0  # every statement's counters into pgops.statement_captures, this often
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC), compare=False, repr=False)

    @property
    def database(self) -> str:
        return describe(self.dsn)


RETENTION_ENV = "PG_OPS_SNAPSHOT_RETENTION_DAYS"
VIEW_TIMEOUT_ENV = "PG_OPS_SNAPSHOT_VIEW_TIMEOUT_MS"


def env_number(name: str, default: float, minimum: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = minimum - 1
    if not value >= minimum:
        raise PgOpsError(f"{name} must be a number >= {minimum:g}, got {raw!r}; fix or unset it (default {default:g})")
    return value


def target_from_env(dsn: Target | str, pushgateway_url: str, push_timeout_s: float = 2.0) -> SnapshotTarget:
    """The snapshot settings the environment gives (MONITORING_PASSWORD and the PG_OPS_SNAPSHOT_* knobs)."""
    return SnapshotTarget(dsn=dsn, monitoring_password=monitoring_schema.password_from_env(),
                          pushgateway_url=pushgateway_url, push_timeout_s=push_timeout_s,
                          view_timeout_ms=int(env_number(VIEW_TIMEOUT_ENV, 2000, 100)),
                          retention_days=env_number(RETENTION_ENV, 14, 0.01))


@dataclass
class TickOutcome:
    database: str
    taken_at: dt.datetime
    reads: list[ViewRead] = field(default_factory=list)
    series: int = 0
    read_s: float = 0.0
    push_s: float = 0.0
    total_s: float = 0.0
    pushed: bool = False
    push_error: str | None = None
    saved: bool = False
    save_error: str | None = None
    captured: bool = False  # every statement's counters went into pgops.statement_captures
    capture_error: str | None = None
    database_error: str | None = None

    @property
    def failed_views(self) -> dict[str, str]:
        return {r.view: r.error for r in self.reads if r.error}

    @property
    def not_installed(self) -> bool:
        failed = self.failed_views
        return bool(self.reads) and len(failed) == len(self.reads) and all("does not exist" in e
                                                                           for e in failed.values())

    @property
    def ok(self) -> bool:
        return not (self.database_error or self.push_error or self.save_error or self.failed_views
                    or self.capture_error)

    def line(self) -> str:
        if self.database_error:
            return f"snapshot of {self.database}: nothing read or saved: {self.database_error}"
        if self.not_installed:
            return (f"snapshot of {self.database}: the monitoring views are not installed, so nothing was pushed "
                    "or written; materialize monitoring_schema (pg-ops run --select monitoring_schema)")
        failed = self.failed_views
        parts = [f"snapshot of {self.database}: {len(self.reads) - len(failed)}/{len(self.reads)} views in "
                 f"{self.read_s * 1000:.0f} ms"]
        if failed:
            parts.append("failed: " + "; ".join(f"monitoring.{v}: {reason}" for v, reason in failed.items()))
        if self.pushed:
            parts.append(f"pushed {self.series:,} series in {self.push_s * 1000:.0f} ms")
        elif self.push_error:
            parts.append(f"NOT pushed ({self.push_error}); the next tick pushes again")
        else:
            parts.append("not pushed (no Pushgateway configured)")
        parts.append("history saved" if self.saved else f"history NOT saved: {self.save_error}")
        if self.capture_error:  # a capture that worked is not news: it happens once an hour
            parts.append(f"statements NOT captured ({self.capture_error}); the next tick tries again")
        return "; ".join(parts)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float, decimal.Decimal)):
        return float(value)
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return None


def _metric_name(view: str, column: str, value: Any) -> str:
    suffix = "_timestamp_seconds" if isinstance(value, dt.datetime) else ""
    return f"pg_ops_snapshot_{view}_{column}{suffix}"


def _values(spec: ViewMetrics, row: dict[str, Any]) -> Iterator[tuple[str, Any, float]]:
    """(column, value, number) for each of a row's columns that becomes a gauge."""
    for column, value in row.items():
        number = _number(value)
        if number is not None and column not in spec.labels and (spec.values is None or column in spec.values):
            yield column, value, number


def _families(reads: list[ViewRead], taken_at: float) -> list[GaugeMetricFamily]:
    """The gauges of one snapshot as metric families: far cheaper than a Gauge child per row."""
    families: dict[str, GaugeMetricFamily] = {}

    def family(name: str, help_text: str, labels: Iterable[str]) -> GaugeMetricFamily:
        if name not in families:
            families[name] = GaugeMetricFamily(name, help_text, labels=list(labels))
        return families[name]

    duration = family("pg_ops_snapshot_view_duration_seconds", "How long reading the view took", ["view"])
    success = family("pg_ops_snapshot_view_success", "1 when the view was read, 0 when it failed", ["view"])
    count = family("pg_ops_snapshot_view_rows", "Rows the view returned", ["view"])
    for read in reads:
        duration.add_metric([read.view], read.seconds)
        success.add_metric([read.view], 0 if read.error else 1)
        count.add_metric([read.view], len(read.rows))
        spec = VIEW_METRICS.get(read.view, ViewMetrics(per_row=False))
        values = functools.partial(_values, spec)
        if not spec.per_row:
            maxima: dict[str, tuple[float, Any]] = {}
            for row in read.rows:
                for column, value, number in values(row):
                    if column not in maxima or number > maxima[column][0]:
                        maxima[column] = (number, value)
            for column, (number, value) in maxima.items():
                family(_metric_name(read.view, column, value) + "_max", f"Largest {column} in monitoring.{read.view}",
                       []).add_metric([], number)
            continue
        seen: set[tuple[str, ...]] = set()
        for row in ranked(read):
            labels = tuple("" if row.get(name) is None else str(row[name]) for name in spec.labels)
            if labels in seen:  # the gateway refuses a push with a label set twice; keep the larger
                continue
            seen.add(labels)
            for column, value, number in values(row):
                family(_metric_name(read.view, column, value), f"{column} in monitoring.{read.view}",
                       spec.labels).add_metric(list(labels), number)
    family("pg_ops_snapshot_timestamp_seconds", "When the snapshot was taken (Unix time)", []).add_metric([], taken_at)
    return list(families.values())


class _Collected(Collector):
    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        self.families = families

    def collect(self) -> Iterator[GaugeMetricFamily]:
        return iter(self.families)


def registry_for(reads: list[ViewRead], taken_at: float) -> tuple[CollectorRegistry, int]:
    """The gauges of one snapshot, and how many series they are. Text that is not a label (query text,
    human-readable sizes) is left out: it would make unbounded label sets."""
    families = _families(reads, taken_at)
    registry = CollectorRegistry()
    registry.register(_Collected(families))
    return registry, sum(len(f.samples) for f in families)


def _plain(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return value


def history_data(reads: Iterable[ViewRead]) -> dict[str, list[dict[str, Any]]]:
    """The rows a report needs: at most HISTORY_ROWS per view, the largest first where the view has a rank."""
    data: dict[str, list[dict[str, Any]]] = {}
    for read in reads:
        if read.error:
            continue
        data[read.view] = [{k: _plain(v) for k, v in row.items()} for row in ranked(read, HISTORY_ROWS)]
    return data


def retire(url: str, database: str, timeout_s: float = 2.0) -> None:
    """Delete a database's snapshot group from the gateway: it is no longer watched."""
    push.delete(url, JOB, database, timeout_s)


class Snapshotter:
    """Takes snapshots of one database, keeping its sessions open between ticks (logging in costs more
    than reading the views): `parallel_reads` as `monitoring`, one as the owner for the history. Sessions
    that were lost are opened again."""

    def __init__(self, target: SnapshotTarget) -> None:
        self.target = target
        self._readers: list[Connection | None] = [None] * max(1, target.parallel_reads)
        self._last_seconds: dict[str, float] = {}
        self._writer: Connection | None = None
        self._table_ready = False
        self._statements_schema: str | None = None  # where pg_stat_statements is, once known
        self._last_capture: dt.datetime | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        for conn in (*self._readers, self._writer):
            if conn is not None:
                conn.close()
        self._readers = [None] * len(self._readers)
        self._writer = None

    def _open(self, conn: Connection | None, dsn: Target | str, timeout_ms: int, **options: Any) -> Connection:
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        if conn is not None:
            conn.close()
        return connect(dsn, purpose="monitoring snapshot", connect_timeout_s=5,
                       statement_timeout_ms=timeout_ms, **options)

    def tick(self) -> TickOutcome:
        with self._lock:
            return self._tick()

    def _tick(self) -> TickOutcome:
        t = self.target
        started = time.perf_counter()
        outcome = TickOutcome(database=t.database, taken_at=t.clock())
        try:
            try:
                outcome.reads = self._read_views(time.monotonic() + t.deadline_s)
            except PgOpsError:
                # Kept sessions die with a server restart and say so only when used: log in again, once.
                self.close()
                outcome.reads = self._read_views(time.monotonic() + t.deadline_s)
        except PgOpsError as exc:
            self.close()
            outcome.database_error = str(exc)
            outcome.total_s = time.perf_counter() - started
            return outcome
        outcome.read_s = time.perf_counter() - started
        if outcome.not_installed:  # before the rollout's monitoring step: nothing to push, nothing written
            outcome.total_s = time.perf_counter() - started
            return outcome
        if t.pushgateway_url:
            registry, outcome.series = registry_for(outcome.reads, outcome.taken_at.timestamp())
            push_started = time.perf_counter()
            try:
                push.push(t.pushgateway_url, JOB, t.database, registry, t.push_timeout_s, "the snapshot")
                outcome.pushed = True
            except PgOpsError as exc:
                outcome.push_error = str(exc)
            outcome.push_s = time.perf_counter() - push_started
        for _attempt in (1, 2):  # a second time only when the kept session turned out dead
            try:
                self._save(outcome)
                outcome.saved, outcome.save_error = True, None
                break
            except (PgOpsError, psycopg.Error) as exc:
                lost = self._writer is not None and (self._writer.broken or self._writer.closed)
                if lost:
                    self._writer = None
                outcome.save_error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                if not lost:
                    break
        outcome.total_s = time.perf_counter() - started
        return outcome

    def _read_views(self, deadline: float) -> list[ViewRead]:
        """Every view, spread over the reader sessions, the slowest of the last tick first (so the lanes
        finish together); returned in the views' order."""
        views = monitoring_schema.expected_views()
        queue = collections.deque(sorted(views, key=lambda v: -self._last_seconds.get(v, 0.0)))
        reads: dict[str, ViewRead] = {}
        errors: list[PgOpsError] = []
        role = monitoring_schema.role_target(self.target.dsn, self.target.monitoring_password)
        sessions: list[Connection] = []
        for i, conn in enumerate(self._readers):  # kept as they open, so close() finds each one
            session = self._open(conn, role, self.target.view_timeout_ms,
                                 password_hint=monitoring_schema.ROLE_PASSWORD_HINT)
            self._readers[i] = session
            sessions.append(session)

        def lane(conn: Connection) -> None:
            try:
                while queue:
                    try:
                        view = queue.popleft()
                    except IndexError:
                        return
                    reads[view] = monitoring_schema.read_each(conn, [view], deadline)[0]
            except PgOpsError as exc:
                errors.append(exc)

        lanes = [threading.Thread(target=lane, args=(conn,)) for conn in sessions[1:]]
        for thread in lanes:
            thread.start()
        lane(sessions[0])
        for thread in lanes:
            thread.join()
        if errors:
            raise errors[0]
        self._last_seconds = {view: read.seconds for view, read in reads.items()}
        return [reads[view] for view in views]

    def _writer_ready(self) -> Connection:
        self._writer = self._open(self._writer, self.target.dsn, 5000)
        if not self._table_ready:
            self._writer.execute(sqlfiles.read("pgops/monitoring_snapshots.sql"))
            self._writer.execute(sqlfiles.read("pgops/statement_captures.sql"))
            row = self._writer.execute(sqlfiles.read("pgops/extension_schema.sql")).fetchone()
            self._statements_schema = str(row["schema"]) if row else None
            last = self._writer.execute("select max(taken_at) as at from pgops.statement_captures where database = %s",
                                        (self.target.database,)).fetchone()
            self._last_capture = last["at"] if last else None
            self._table_ready = True
        return self._writer

    def _save(self, outcome: TickOutcome) -> None:
        t = self.target
        writer = self._writer_ready()
        with writer.transaction():
            writer.execute(
                sqlfiles.read("pgops/monitoring_snapshot_insert.sql"),
                (outcome.database, outcome.taken_at, outcome.read_s * 1000,
                 len(outcome.reads) - len(outcome.failed_views), Jsonb(outcome.failed_views), outcome.pushed,
                 outcome.push_error, Jsonb(history_data(outcome.reads))))
            writer.execute(
                "delete from pgops.monitoring_snapshots"
                " where database = %s and taken_at < %s - %s * interval '1 day'",
                (outcome.database, outcome.taken_at, t.retention_days))
            self._capture_statements(writer, outcome)

    def _capture_statements(self, writer: Connection, outcome: TickOutcome) -> None:
        """Once per `capture_every_s` (the first tick after it elapsed): every statement's counters."""
        t = self.target
        due = self._last_capture is None or \
            (outcome.taken_at - self._last_capture).total_seconds() >= t.capture_every_s
        if not due or self._statements_schema is None:
            return
        try:
            with writer.transaction():  # a savepoint: a capture that fails keeps the tick's snapshot row
                writer.execute(sqlfiles.read("pgops/statement_capture_insert.sql").format(
                    schema=sql.Identifier(self._statements_schema)), {"database": outcome.database,
                                                                     "taken_at": outcome.taken_at})
                writer.execute("delete from pgops.statement_captures where database = %s and taken_at < %s - %s * "
                               "interval '1 day'", (outcome.database, outcome.taken_at, t.retention_days))
        except psycopg.errors.DatabaseError as exc:  # said in the tick's line; tried again next tick
            outcome.capture_error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return
        self._last_capture = outcome.taken_at
        outcome.captured = True


def once(target: SnapshotTarget) -> TickOutcome:
    """One snapshot with connections of its own (the CLI, the benchmark, the tests)."""
    taker = Snapshotter(target)
    try:
        return taker.tick()
    finally:
        taker.close()
