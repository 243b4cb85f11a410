"""Undoing the rollout back to a version: each file's down, newest first, under the runner lock, ledgered.

Order: the rollout applies the versioned files, then the repeatable ones (functions written against the
newest schema); a rollback undoes them in the opposite order. `--down-to V` undoes every file after V in
that order: the repeatable files (put back as they were before, from the ledger), then the versioned
files newer than V (their `.down.sql`). `--down-to 0` undoes them all.

A policy file's down is proven before it commits: the policies of the tables it touches must equal the
record taken just before its up, or the down's transaction is rolled back. Afterwards the allow/deny
matrix is taken and compared with the one recorded before the rewrite.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from pg_ops.engine.db import Connection, Target, connect, describe
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.migrations import ledger, migrate, migration_files, undo_records
from pg_ops.engine.migrations.advisory_lock import runner_lock
from pg_ops.engine.migrations.ledger import LedgerRow
from pg_ops.engine.migrations.migration_files import MigrationFile
from pg_ops.engine.proof import rls_matrix

Log = Callable[[str], None]
ZERO = "0"


@dataclass
class RollbackPlan:
    to_version: str
    steps: list[MigrationFile]
    notes: list[str] = field(default_factory=list)
    how: dict[str, str] = field(default_factory=dict)  # per version: what undoing it does


@dataclass
class Undone:
    version: str
    label: str
    duration_ms: int
    detail: str


@dataclass
class RollbackReport:
    target: str
    to_version: str
    undone: list[Undone] = field(default_factory=list)
    seconds: float = 0.0
    rls_matrix: str = "not compared (compare_matrix is off)"
    ledger: dict[str, LedgerRow] = field(default_factory=dict)


def command(to_version: str) -> str:
    """What an operator types to roll back to `to_version`."""
    return f"pg-ops migrate --down-to {to_version}"


def normalize(to_version: str, files: list[MigrationFile]) -> str:
    """The version as the files spell it ("9" is "009"), "0" for before them all, or one line."""
    versions = [f.version for f in files if not f.repeatable]
    given = to_version.strip()
    if given.isdigit() and int(given) == 0:
        return ZERO
    match = [v for v in versions if given.isdigit() and int(v) == int(given)]
    if not match:
        shown = f"{versions[0]} to {versions[-1]}" if versions else "none"
        raise PgOpsError(f"--down-to {to_version!r}: no migration has that version; the versions are {shown}, and "
                         f"0 undoes them all (pg-ops migrate --plan lists them)")
    return match[0]


def _undoable(f: MigrationFile, row: LedgerRow | None) -> bool:
    """Applied, or its down failed, or its up failed outside a transaction (a leftover may exist).
    A transactional up that failed changed nothing."""
    if row is None or row.outcome == "rolled_back":
        return False
    return row.outcome in ("success", "rollback_failed") or not f.transactional


def steps(files: list[MigrationFile], rows: dict[str, LedgerRow], to_version: str) -> list[MigrationFile]:
    repeatable = [f for f in reversed(files) if f.repeatable and _undoable(f, rows.get(f.version))]
    newer = [f for f in files if not f.repeatable and (to_version == ZERO or int(f.version) > int(to_version))]
    versioned = [f for f in reversed(newer) if _undoable(f, rows.get(f.version))]
    return repeatable + versioned


def _refusals(conn: Connection, chosen: list[MigrationFile], settings: migrate.Settings,
              how: dict[str, str]) -> list[str]:
    notes = []
    for f in chosen:
        if f.repeatable:
            kept = undo_records.replaced(conn, f.version)
            unknown = [s for s in f.functions if s not in kept]
            if unknown:
                raise PgOpsError(f"no record of what {f.label} replaced ({unknown[0]}): it was applied before pg_ops "
                                 "kept one. Put the function back by hand (the backup has it), then run again; "
                                 "nothing was changed")
            back = [s for s in f.functions if kept[s].definition is not None]
            how[f.version] = ", ".join(([f"put back {len(back)} replaced function(s)"] if back else []) + (
                [f"drop {len(f.functions) - len(back)} new function(s)"] if len(back) < len(f.functions) else []))
        elif f.down is None:
            raise PgOpsError(f"{f.label} has no down file ({f.path.stem}.down.sql); write what undoes it, then run "
                             "again; nothing was changed")
        else:
            how[f.version] = f.down.label if f.down.statements else "nothing to undo"
            if f.policy_tables:
                if undo_records.recorded_policies(conn, f.version) is None:
                    notes.append(f"{f.label}: no record of the policies before it (applied before pg_ops kept one); "
                                 "its down runs without that comparison")
                else:
                    how[f.version] += ", policies compared with those recorded before it"
    downs = [f.down for f in chosen if f.down is not None and f.down.statements]
    findings = migration_files.squawk_findings([(d.path, d.transactional) for d in downs],
                                               settings.squawk_down_config or settings.squawk_config)
    if findings:
        shown = "; ".join(f"{x.file} line {x.line}: {x.rule}: {x.message}" for x in findings[:3])
        raise PgOpsError(f"lint rejects {shown}; nothing was rolled back")
    return notes


def plan(dsn: Target | str, settings: migrate.Settings, to_version: str) -> RollbackPlan:
    files = migrate.all_files(settings)
    target_version = normalize(to_version, files)
    with connect(dsn, purpose=settings.purpose) as conn, migrate.privileges(dsn, "reading the ledger"):
        rows = ledger.read(conn)
        chosen = steps(files, rows, target_version)
        how: dict[str, str] = {}
        notes = _refusals(conn, chosen, settings, how)
    return RollbackPlan(target_version, chosen, notes, how)


def _policy_proof(migration: MigrationFile) -> Callable[[Connection, int], None]:
    def finish(conn: Connection, elapsed_ms: int) -> None:
        if migration.policy_tables:
            before = undo_records.recorded_policies(conn, migration.version)
            if before is not None:
                found = undo_records.policy_differences(before, undo_records.policies(conn, migration.policy_tables))
                if found:
                    raise _NotRestored("its down would leave the policies different from before the file: "
                                       + "; ".join(found[:3]) + (f" (and {len(found) - 3} more)" if len(found) > 3
                                                                 else "") + "; the down was rolled back")
        ledger.record_down(conn, migration, elapsed_ms, None)
    return finish


class _NotRestored(Exception):
    """A down whose result is not what was there before: its transaction is rolled back."""


def _drop_statementwise(dsn: Target | str, migration: MigrationFile, settings: migrate.Settings, log: Log) -> int:
    """Outside a transaction. DROP INDEX CONCURRENTLY with no lock_timeout: cancelled in its wait it would
    leave the index INVALID (a rerun drops it); it never blocks writes while it waits."""
    assert migration.down is not None
    total_ms = 0
    for statement in migration.down.statements:
        started = time.perf_counter()
        with connect(dsn, purpose=settings.purpose, statement_timeout_ms=0) as conn:
            if statement in migration.down.index_drops:
                conn.execute("set lock_timeout = 0")
            else:
                conn.execute("select set_config('lock_timeout', %s, false)", (f"{settings.lock_timeout_ms}ms",))
            conn.execute(statement)
        total_ms += int((time.perf_counter() - started) * 1000)
    with connect(dsn, purpose=settings.purpose) as conn:
        ledger.record_down(conn, migration, total_ms, None)
    return total_ms


def _restore_functions(dsn: Target | str, migration: MigrationFile, settings: migrate.Settings, log: Log) -> str:
    with connect(dsn, purpose=settings.purpose) as conn:
        kept = undo_records.replaced(conn, migration.version)
        statements: list[sql.Composed | sql.SQL] = []
        for signature in migration.functions:
            statements += undo_records.restore_statements(conn, signature, kept[signature])
    migrate.run_transactional(dsn, migration.label, statements, settings, log, prepare=lambda _: None,
                               finish=lambda conn, ms: ledger.record_down(conn, migration, ms, None))
    put_back = sum(1 for s in migration.functions if kept[s].definition is not None)
    return f"{put_back} put back, {len(migration.functions) - put_back} dropped"


def _undo_one(dsn: Target | str, migration: MigrationFile, settings: migrate.Settings, log: Log) -> Undone:
    started = time.perf_counter()
    how = "its functions put back" if migration.repeatable or migration.down is None else migration.down.label
    log(f"rolling back {migration.label} ({how})")
    try:
        if migration.repeatable:
            detail = _restore_functions(dsn, migration, settings, log)
        elif migration.down is not None and migration.down.transactional:
            migrate.run_transactional(dsn, migration.down.label, migration.down.statements, settings, log,
                                       prepare=lambda _: None, finish=_policy_proof(migration))
            detail = "committed" + (", policies as before" if migration.policy_tables else "")
        else:
            _drop_statementwise(dsn, migration, settings, log)
            detail = f"{len(migration.down.index_drops)} index(es) dropped" if migration.down else "nothing to undo"
            if migration.down is not None and not migration.down.statements:
                detail = "nothing to undo"
    except (migrate.Failed, _NotRestored, PgOpsError, psycopg.Error) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        try:
            with connect(dsn, purpose=settings.purpose) as conn:
                ledger.record_down(conn, migration, int((time.perf_counter() - started) * 1000), reason)
        except (PgOpsError, psycopg.Error):
            raise PgOpsError(f"rolling back {migration.label} was interrupted ({reason}) and the database no longer "
                             "answers; when it is back, run the same pg-ops migrate --down-to again: a transactional "
                             "down was rolled back, a dropped index's INVALID leftover is dropped again") from None
        raise PgOpsError(f"rolling back {migration.label} failed: {reason}; the newer files are rolled back, "
                         "the older ones untouched (fix it and run the same command again)") from None
    duration_ms = int((time.perf_counter() - started) * 1000)
    log(f"rolled back {migration.label} in {duration_ms} ms ({detail})")
    return Undone(migration.version, migration.label, duration_ms, detail)


def rollback(dsn: Target | str, settings: migrate.Settings, to_version: str, log: Log = lambda _: None,
             compare_matrix: bool = False) -> RollbackReport:
    """Undo every applied file after `to_version`, newest first. Run again after a failure: it goes on
    from where it stopped; with nothing left to undo it is a no-op. `compare_matrix`: after a policy file's
    down, also take the allow/deny matrix and compare it with the one recorded before the rewrite (a read of
    every table as each kind of user: 20 to 45 s at a million orders)."""
    started = time.perf_counter()
    first = plan(dsn, settings, to_version)  # refusals before waiting for the lock
    report = RollbackReport(target=describe(dsn), to_version=first.to_version)
    for note in first.notes:
        log(note)
    if not first.steps:  # nothing applied after the version (or no ledger: not a database pg_ops rolled out to)
        report.rls_matrix = "not compared: nothing to roll back"
        report.seconds = time.perf_counter() - started
        return report
    with runner_lock(dsn, settings.runner_lock_wait_s, log):
        with connect(dsn, purpose=settings.purpose) as conn:
            ledger.ensure(conn)
        again = plan(dsn, settings, to_version)  # under the lock: another runner may have moved on
        for migration in again.steps:
            report.undone.append(_undo_one(dsn, migration, settings, log))
        if not any(f.policy_tables for f in again.steps):
            report.rls_matrix = "not compared: no policy file was rolled back"
        elif compare_matrix:
            report.rls_matrix = _compare_matrix(dsn)
            log(f"row-level security: {report.rls_matrix}")
        with connect(dsn, purpose=settings.purpose) as conn:
            report.ledger = ledger.read(conn)
    report.seconds = time.perf_counter() - started
    return report


def _compare_matrix(dsn: Target | str) -> str:
    """The behavioural cross-check, reported, not a gate: the gate is each policy down's exact comparison with
    the policies recorded before its file. The matrix's reads see the rows as they are now, so on a database
    the application wrote to since the matrix was recorded, row counts differ without any policy change."""
    before = rls_matrix.load(dsn, rls_matrix.BEFORE_REWRITE)
    if before is None:
        return "not compared: no matrix was recorded before the rewrite (the baseline records it)"
    found = rls_matrix.differences(before, rls_matrix.take(dsn))
    if found:
        return (f"{len(found)} of the matrix's entries differ from the one recorded before the rewrite "
                f"({'; '.join(found[:2])}): rows written since it was recorded change what a read returns; the "
                "policies themselves were compared exactly with those before each policy file")
    return f"allow/deny matrix equal to the one recorded before the rewrite ({len(before)} users)"


def version_before(rows: dict[str, LedgerRow], started_at: dt.datetime) -> str | None:
    """The newest versioned file applied before `started_at`, "0" if none; None when nothing was applied
    since (a rollout run that changed nothing has nothing of its own to undo)."""
    since = [r for r in rows.values() if r.outcome == "success" and r.applied_at >= started_at]
    if not since:
        return None
    older = [r.version for r in rows.values() if r.kind == "versioned" and r.outcome == "success"
             and r.applied_at < started_at]
    return max(older, key=int) if older else ZERO


def hint(rows: dict[str, LedgerRow], started_at: dt.datetime) -> str:
    """What to type to undo a rollout run that began at `started_at`: for a failed check's message."""
    version = version_before(rows, started_at)
    if version is None:
        return f"this run applied no file; {command(ZERO)} undoes the whole rollout"
    return f"to undo what this run applied: {command(version)} (or launch rollback_job with to_version: '{version}')"
