"""Applying the rollout's SQL files to a live database: linted first, one runner at a time, ledgered.

Lock classes: statements in a transactional file take ACCESS EXCLUSIVE locks (policies, functions), so
they run under a short lock_timeout and are retried with jitter; a CREATE INDEX CONCURRENTLY runs with no
lock_timeout (see pg_ops.engine.migrations.index_lifecycle) and a watchdog that reports what blocks it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from pg_ops.engine import sqlfiles
from pg_ops.engine.db import Connection, Target, connect, describe
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.migrations import index_lifecycle, ledger, migration_files, schema_requirements, undo_records
from pg_ops.engine.migrations.advisory_lock import runner_lock
from pg_ops.engine.migrations.ledger import LedgerRow
from pg_ops.engine.migrations.migration_files import MigrationFile
from pg_ops.engine.paths import sql_dir
from pg_ops.engine.poller import Poller

Log = Callable[[str], None]


@dataclass(frozen=True)
class Settings:
    migrations_dir: Path | None
    functions_dir: Path | None
    squawk_config: Path | None
    squawk_down_config: Path | None = None  # for the down files; the ups' config when None
    lock_timeout_ms: int = 500
    ddl_attempts: int = 4
    retry_base_s: float = 0.5
    build_attempts: int = 3
    runner_lock_wait_s: float = 60.0
    purpose: str = "migrate"  # sessions are named "<target's application_name> migrate"
    search_path: str | None = None  # for each transactional file, when its names must resolve somewhere

    @staticmethod
    def platform(**overrides: Any) -> Settings:
        """The platform's rollout: sql/migrations and sql/functions."""
        base = sql_dir()
        return Settings(migrations_dir=base / "migrations", functions_dir=base / "functions",
                        squawk_config=base / "migrations" / "squawk.toml",
                        squawk_down_config=base / "migrations" / "squawk.down.toml", **overrides)


@dataclass
class Applied:
    version: str
    label: str
    duration_ms: int
    statements_ms: int
    detail: str


@dataclass
class Plan:
    pending: list[MigrationFile]
    done: list[MigrationFile]
    ledger: dict[str, LedgerRow]
    missing: list[str] = field(default_factory=list)  # tables and columns the pending files need and lack
    unavailable: list[MigrationFile] = field(default_factory=list)  # need an extension the server lacks


@dataclass
class Report:
    target: str
    applied: list[Applied] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    ledger: dict[str, LedgerRow] = field(default_factory=dict)

    @property
    def statements_ms(self) -> int:
        return sum(a.statements_ms for a in self.applied)


def pending_files(files: list[MigrationFile], rows: dict[str, LedgerRow]) -> list[MigrationFile]:
    """Files not applied, failed last time, or repeatable and changed since."""
    pending = []
    for f in files:
        row = rows.get(f.version)
        if row is None or row.outcome != "success":
            pending.append(f)
        elif f.repeatable and row.sha256 != f.sha256:
            pending.append(f)
    return pending


def available_extensions(conn: Connection) -> frozenset[str]:
    return frozenset(r["name"] for r in conn.execute("select name from pg_catalog.pg_available_extensions"))


def applicable(files: list[MigrationFile], available: frozenset[str]) -> list[MigrationFile]:
    """The files this server can take: a `when_available` file only where its extension is offered."""
    return [f for f in files if f.when_available is None or f.when_available in available]


def _refuse_changed(files: list[MigrationFile], rows: dict[str, LedgerRow]) -> None:
    for f in files:
        row = rows.get(f.version)
        if row and row.outcome == "success" and not f.repeatable and row.sha256 != f.sha256:
            raise PgOpsError(
                f"{f.label} was applied on {row.applied_at:%Y-%m-%d %H:%M} with checksum {row.sha256[:12]} but the "
                f"file now has {f.sha256[:12]}; restore the applied version, or put the change in a new file, or "
                f"after review accept it with: pg-ops migrate --repair {f.version}")


def all_files(settings: Settings) -> list[MigrationFile]:
    return migration_files.discover(settings.migrations_dir, settings.functions_dir)


def intended_indexes(settings: Settings) -> list[migration_files.IndexBuild]:
    """The indexes the index_migrations files build."""
    return [b for f in all_files(settings) if f.step == "index_migrations" for b in f.index_builds]


def _files(settings: Settings, step: str | None) -> tuple[list[MigrationFile], list[MigrationFile]]:
    everything = all_files(settings)
    chosen = [f for f in everything if step is None or f.step == step]
    return everything, chosen


def _survey(dsn: Target | str, settings: Settings, everything: list[MigrationFile], chosen: list[MigrationFile]
            ) -> tuple[dict[str, LedgerRow], list[MigrationFile], list[str], frozenset[str]]:
    """The ledger, the pending files, what they need that the target lacks, and the extensions the server
    offers. Writes nothing."""
    with connect(dsn, purpose=settings.purpose) as conn, privileges(dsn, "reading the ledger"):
        rows = ledger.read(conn)
        _refuse_changed(everything, rows)
        available = available_extensions(conn)
        pending = pending_files(applicable(chosen, available), rows)
        if settings.search_path:  # unqualified names resolve as they will when the files run
            conn.execute("select set_config('search_path', %s, false)", (settings.search_path,))
        absent = schema_requirements.missing(conn, schema_requirements.required(pending))
    return rows, pending, absent, available


def plan(dsn: Target | str, settings: Settings, step: str | None = None) -> Plan:
    everything, chosen = _files(settings, step)
    rows, pending, absent, available = _survey(dsn, settings, everything, chosen)
    usable = applicable(chosen, available)
    return Plan(pending=pending, done=[f for f in usable if f not in pending], ledger=rows, missing=absent,
                unavailable=[f for f in chosen if f not in usable])


@contextmanager
def privileges(dsn: Target | str, doing: str) -> Iterator[None]:
    """A role that may not read or write what the rollout needs gets one line naming the privilege."""
    try:
        yield
    except psycopg.errors.InsufficientPrivilege as exc:
        first = str(exc).strip().splitlines()[0]
        raise PgOpsError(f"{doing} on {describe(dsn)}: {first}; run pg_ops as the owner of the application's "
                         "tables or a superuser (pg-ops preflight says what this role lacks)") from None


def _lint_or_refuse(files: list[MigrationFile], settings: Settings) -> None:
    findings = migration_files.lint(files, settings.squawk_config, settings.squawk_down_config)
    if findings:
        shown = "; ".join(f"{f.file} line {f.line}: {f.rule}: {f.message}" for f in findings[:3])
        more = f" (and {len(findings) - 3} more)" if len(findings) > 3 else ""
        raise PgOpsError(f"lint rejects {shown}{more}; nothing was applied")


def _blockers(conn: Connection, pid: int) -> str:
    rows = conn.execute(
        sqlfiles.read("pgops/lock_blockers.sql"), (pid,)).fetchall()
    return "; ".join(f"pid {r['pid']} ({r['usename']}, {r['app'] or 'no application_name'}, {r['state']} "
                     f"{r['xact_s']} s)" for r in rows)


class _BlockerSampler:
    """Remembers who blocked a statement while it waited, for the message after lock_timeout."""

    def __init__(self, dsn: Target | str, pid: int) -> None:
        self.seen = ""
        self._poller = Poller(dsn, self._look, 0.1, "lock watch")
        self._pid = pid

    def _look(self, conn: Connection) -> None:
        found = _blockers(conn, self._pid)
        if found:
            self.seen = found

    def __enter__(self) -> _BlockerSampler:
        self._poller.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._poller.__exit__(*exc)


def _lock_timeout_ms(conn: Connection, settings: Settings, log: Log) -> int:
    """Below deadlock_timeout: if our lock wait ever closes a cycle with the application, our wait ends
    first and we retry, instead of the deadlock detector killing an application transaction."""
    row = conn.execute("select setting::int as ms from pg_settings where name = 'deadlock_timeout'").fetchone()
    ceiling = max(int(row["ms"]) // 2, 10) if row else settings.lock_timeout_ms
    if settings.lock_timeout_ms > ceiling:
        log(f"lock_timeout {settings.lock_timeout_ms} ms capped to {ceiling} ms (half of deadlock_timeout)")
        return ceiling
    return settings.lock_timeout_ms


Step = Callable[[Connection], None]


def run_transactional(dsn: Target | str, label: str, statements: Sequence[str | sql.Composed | sql.SQL],
                       settings: Settings, log: Log, prepare: Step, finish: Callable[[Connection, int], None]) -> int:
    """`prepare`, the statements and `finish` (which writes the ledger) in one transaction; lock_timeout
    and jittered retries."""
    blocker = ""
    for attempt in range(1, settings.ddl_attempts + 1):
        # A file's statements may legitimately run long (a backfill): the target's statement_timeout is lifted;
        # lock_timeout below is what keeps the application from waiting on us.
        with connect(dsn, purpose=settings.purpose, autocommit=False, statement_timeout_ms=0) as conn:
            timeout_ms = _lock_timeout_ms(conn, settings, log if attempt == 1 else lambda _: None)
            conn.execute("select set_config('lock_timeout', %s, true)", (f"{timeout_ms}ms",))
            if settings.search_path:
                conn.execute("select set_config('search_path', %s, true)", (settings.search_path,))
            started = time.perf_counter()
            try:
                with _BlockerSampler(dsn, conn.info.backend_pid) as sampler:
                    prepare(conn)
                    for statement in statements:
                        conn.execute(statement)
                elapsed_ms = int((time.perf_counter() - started) * 1000)
                finish(conn, elapsed_ms)
                conn.commit()
                return elapsed_ms
            except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected):
                conn.rollback()
                blocker = sampler.seen or blocker or "a session that ended before it could be named"
                if attempt < settings.ddl_attempts:
                    pause = settings.retry_base_s * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
                    log(f"{label}: lock_timeout ({timeout_ms} ms) hit, blocked by {blocker}; "
                        f"retry {attempt + 1}/{settings.ddl_attempts} in {pause:.1f} s")
                    time.sleep(pause)
    raise Failed(f"lock_timeout ({timeout_ms} ms) hit {settings.ddl_attempts} times; blocked by "
                  f"{blocker}: end that session or run again when it is done")


class Failed(Exception):
    """A migration that failed; its message goes to the ledger and, prefixed, to the user."""


def _run_statementwise(dsn: Target | str, migration: MigrationFile, settings: Settings, log: Log) -> tuple[int, str]:
    """Outside a transaction: index builds through the lifecycle, other statements with lock_timeout."""
    builds = {b.statement: b for b in migration.index_builds}
    total_ms, outcomes = 0, []
    for statement in migration.statements:
        started = time.perf_counter()
        build = builds.get(statement)
        if build is not None and build.concurrent:
            done = index_lifecycle.ensure_index(dsn, build, log, settings.build_attempts, settings.purpose)
            outcomes.append(f"{build.name} {done}")
        else:
            with connect(dsn, purpose=settings.purpose, statement_timeout_ms=0) as conn:
                conn.execute("select set_config('lock_timeout', %s, false)", (f"{settings.lock_timeout_ms}ms",))
                conn.execute(statement)
        total_ms += int((time.perf_counter() - started) * 1000)
    return total_ms, ", ".join(outcomes)


def _apply_one(dsn: Target | str, migration: MigrationFile, settings: Settings, log: Log) -> Applied:
    started = time.perf_counter()
    log(f"applying {migration.label}")
    try:
        if migration.transactional:
            statements_ms = run_transactional(
                dsn, migration.label, migration.statements, settings, log,
                prepare=lambda conn: undo_records.before_up(conn, migration),
                finish=lambda conn, ms: ledger.record(conn, migration, ms, "success", None))
            detail = "committed"
        else:
            statements_ms, detail = _run_statementwise(dsn, migration, settings, log)
            with connect(dsn, purpose=settings.purpose) as conn:
                ledger.record(conn, migration, statements_ms, "success", None)
    except (Failed, PgOpsError, psycopg.Error) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        try:
            with connect(dsn, purpose=settings.purpose) as conn:
                ledger.record(conn, migration, int((time.perf_counter() - started) * 1000), "failed", reason)
        except (PgOpsError, psycopg.Error):
            # The server went away mid-file (a crash, a restart, a failover): say which file, not just
            # "cannot connect", and what a rerun does with what it left.
            raise PgOpsError(
                f"{migration.label} was interrupted ({reason}) and the database no longer answers; nothing after "
                f"it ran. When the server is back, run pg-ops migrate again: a transactional file was rolled "
                f"back and is applied again, an index build's INVALID leftover is dropped and rebuilt") from None
        raise PgOpsError(f"{migration.label} failed: {reason}; nothing after it ran (fix it and run again)") from None
    duration_ms = int((time.perf_counter() - started) * 1000)
    log(f"applied {migration.label} in {duration_ms} ms ({detail})")
    return Applied(migration.version, migration.label, duration_ms, statements_ms, detail)


def apply(dsn: Target | str, settings: Settings, step: str | None = None, log: Log = lambda _: None) -> Report:
    """Apply what is pending (for one step, or all), in order. Re-running with nothing pending is a no-op."""
    started = time.perf_counter()
    report = Report(target=describe(dsn))
    everything, chosen = _files(settings, step)
    rows, pending, absent, available = _survey(dsn, settings, everything, chosen)
    if absent:
        raise PgOpsError(schema_requirements.refusal(describe(dsn), absent))
    _lint_or_refuse(pending, settings)  # before any change, and before waiting for the lock
    if step is not None:
        earlier = [f for f in pending_files(applicable([f for f in everything if not f.repeatable], available), rows)
                   if f.step != step and pending and not pending[0].repeatable and f.version < pending[0].version]
        if earlier:
            raise PgOpsError(f"{earlier[0].label} (step {earlier[0].step}) must be applied before step {step}")
    with runner_lock(dsn, settings.runner_lock_wait_s, log):
        with connect(dsn, purpose=settings.purpose) as conn, \
                privileges(dsn, "creating the ledger pgops.schema_migrations"):
            ledger.ensure(conn)
            rows = ledger.read(conn)  # again, under the lock: another runner may have finished meanwhile
            available = available_extensions(conn)
        _refuse_changed(everything, rows)
        pending = pending_files(applicable(chosen, available), rows)
        report.skipped = [f.label for f in applicable(chosen, available) if f not in pending]
        for f in chosen:
            if f.when_available and f.when_available not in available:
                log(f"skipping {f.label}: the server does not offer the {f.when_available} extension")
        for migration in pending:
            report.applied.append(_apply_one(dsn, migration, settings, log))
        with connect(dsn, purpose=settings.purpose) as conn:
            report.ledger = ledger.read(conn)
    report.seconds = time.perf_counter() - started
    return report


def repair(dsn: Target | str, settings: Settings, version: str, dry_run: bool = False) -> str:
    """Accept an applied file's current content. With `dry_run`, say what would be accepted and write nothing."""
    everything, _ = _files(settings, None)
    match = [f for f in everything if f.version == version]
    if not match:
        known = ", ".join(f.version for f in everything[:20])
        raise PgOpsError(f"no migration file has version {version}; the versions are {known}")
    with connect(dsn, purpose=settings.purpose) as conn:
        row = ledger.read(conn).get(version)
    if row is None:
        raise PgOpsError(f"version {version} was never applied; nothing to repair")
    change = f"{match[0].label} from checksum {row.sha256[:12]} to {match[0].sha256[:12]}"
    if row.sha256 == match[0].sha256:
        return f"{match[0].label} is already recorded with its current checksum {row.sha256[:12]}; nothing to repair"
    if dry_run:
        return f"would accept {change} (--plan: nothing written)"
    with runner_lock(dsn, settings.runner_lock_wait_s, lambda _: None), \
            connect(dsn, purpose=settings.purpose) as conn:
        ledger.repair(conn, match[0])
    return f"ledger now accepts {change}"
