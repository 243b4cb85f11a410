"""The ledger table pgops.schema_migrations: what was applied, with which checksum, and how it went."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pg_ops.engine import sqlfiles
from pg_ops.engine.db import Connection
from pg_ops.engine.migrations.migration_files import MigrationFile


@dataclass(frozen=True)
class LedgerRow:
    version: str
    name: str
    kind: str
    step: str
    sha256: str
    applied_at: datetime
    duration_ms: int
    applied_by: str
    outcome: str
    error: str | None


def ensure(conn: Connection) -> None:
    conn.execute(sqlfiles.read("pgops/ledger.sql"))


def exists(conn: Connection) -> bool:
    row = conn.execute("select to_regclass('pgops.schema_migrations') is not null as ok").fetchone()
    return bool(row and row["ok"])


def read(conn: Connection) -> dict[str, LedgerRow]:
    if not exists(conn):
        return {}
    rows = conn.execute("select * from pgops.schema_migrations order by version").fetchall()
    return {row["version"]: LedgerRow(**row) for row in rows}


def record(conn: Connection, migration: MigrationFile, duration_ms: int, outcome: str, error: str | None) -> None:
    """Write the file's row, durably: on a server with synchronous_commit = off a crash right after the commit
    could lose the row while the change it records stayed, and the file would then be applied twice.
    Inside the caller's transaction when there is one (the row commits with the file's statements)."""
    with conn.transaction():
        conn.execute("select set_config('synchronous_commit', 'on', true)")
        conn.execute(sqlfiles.read("pgops/ledger_record.sql"),
                     {"version": migration.version, "name": migration.name,
                      "kind": "repeatable" if migration.repeatable else "versioned", "step": migration.step,
                      "sha256": migration.sha256, "duration_ms": duration_ms, "outcome": outcome, "error": error})
        _history(conn, migration.version, "up", migration.sha256, duration_ms, outcome, error)


def record_down(conn: Connection, migration: MigrationFile, duration_ms: int, error: str | None) -> None:
    """A down that ran (error None: the file is rolled back) or failed, durably, as `record`."""
    sha256 = migration.down.sha256 if migration.down else migration.sha256
    with conn.transaction():
        conn.execute("select set_config('synchronous_commit', 'on', true)")
        conn.execute(sqlfiles.read("pgops/ledger_rolled_back.sql"),
                     {"version": migration.version, "duration_ms": duration_ms, "error": error,
                      "outcome": "rolled_back" if error is None else "rollback_failed"})
        _history(conn, migration.version, "down", sha256, duration_ms, "success" if error is None else "failed",
                 error)


def _history(conn: Connection, version: str, direction: str, sha256: str, duration_ms: int, outcome: str,
             error: str | None) -> None:
    conn.execute(sqlfiles.read("pgops/ledger_history.sql"),
                 {"version": version, "direction": direction, "sha256": sha256, "duration_ms": duration_ms,
                  "outcome": outcome, "error": error})


def repair(conn: Connection, migration: MigrationFile) -> None:
    """Accept the file's current content as applied (after a human checked the change is harmless)."""
    with conn.transaction():
        conn.execute("select set_config('synchronous_commit', 'on', true)")
        conn.execute("update pgops.schema_migrations set sha256 = %s where version = %s",
                     (migration.sha256, migration.version))


def as_records(rows: dict[str, LedgerRow]) -> list[dict[str, Any]]:
    return [{"version": r.version, "name": r.name, "step": r.step, "outcome": r.outcome,
             "duration_ms": r.duration_ms, "applied_at": r.applied_at.isoformat(timespec="seconds"),
             "applied_by": r.applied_by, "sha256": r.sha256[:12]} for r in rows.values()]


def mismatches(files: list[MigrationFile], rows: dict[str, LedgerRow]) -> list[str]:
    """What keeps the ledger from saying every file is applied as it is now: one phrase per file."""
    problems = []
    for f in files:
        row = rows.get(f.version)
        if row is None:
            problems.append(f"{f.label} not applied")
        elif row.outcome == "rolled_back":
            problems.append(f"{f.label} rolled back")
        elif row.outcome != "success":
            problems.append(f"{f.label} last run {row.outcome}: {row.error}")
        elif row.sha256 != f.sha256:
            problems.append(f"{f.label} changed since it was applied")
    return problems
