"""The ledger table pgops.schema_migrations: what was applied, with which checksum, and how it went."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pg_ops import sqlfiles
from pg_ops.db import Connection
from pg_ops.migration_files import MigrationFile


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
    conn.execute(sqlfiles.read("pgops/ledger.sql"))  # type: ignore[arg-type]


def exists(conn: Connection) -> bool:
    row = conn.execute("select to_regclass('pgops.schema_migrations') is not null as ok").fetchone()
    return bool(row and row["ok"])


def read(conn: Connection) -> dict[str, LedgerRow]:
    if not exists(conn):
        return {}
    rows = conn.execute("select * from pgops.schema_migrations order by version").fetchall()
    return {row["version"]: LedgerRow(**row) for row in rows}


def record(conn: Connection, migration: MigrationFile, duration_ms: int, outcome: str, error: str | None) -> None:
    conn.execute(
        """insert into pgops.schema_migrations (version, name, kind, step, sha256, duration_ms, outcome, error)
           values (%(version)s, %(name)s, %(kind)s, %(step)s, %(sha256)s, %(duration_ms)s, %(outcome)s, %(error)s)
           on conflict (version) do update set name = excluded.name, kind = excluded.kind, step = excluded.step,
             sha256 = excluded.sha256, applied_at = now(), duration_ms = excluded.duration_ms,
             applied_by = current_user, outcome = excluded.outcome, error = excluded.error""",
        {"version": migration.version, "name": migration.name,
         "kind": "repeatable" if migration.repeatable else "versioned", "step": migration.step,
         "sha256": migration.sha256, "duration_ms": duration_ms, "outcome": outcome, "error": error},
    )


def repair(conn: Connection, migration: MigrationFile) -> None:
    """Accept the file's current content as applied (after a human checked the change is harmless)."""
    conn.execute("update pgops.schema_migrations set sha256 = %s where version = %s",
                 (migration.sha256, migration.version))


def as_records(rows: dict[str, LedgerRow]) -> list[dict[str, Any]]:
    return [{"version": r.version, "name": r.name, "step": r.step, "outcome": r.outcome,
             "duration_ms": r.duration_ms, "applied_at": r.applied_at.isoformat(timespec="seconds"),
             "applied_by": r.applied_by, "sha256": r.sha256[:12]} for r in rows.values()]
