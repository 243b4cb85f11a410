"""What a down needs that its file cannot hold: kept in the ledger's schema just before each up runs.

A policy file: the policies of the tables it touches, as they were (its down must leave exactly these).
A repeatable file: the definitions and privileges of the functions it replaces (its rollback puts them
back, or drops a function that did not exist). Both are written in the up's own transaction, so a record
exists exactly when its up committed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from pg_ops.engine import sqlfiles
from pg_ops.engine.db import Connection
from pg_ops.engine.migrations.migration_files import MigrationFile

Policies = list[dict[str, Any]]


def policies(conn: Connection, tables: tuple[str, ...] | list[str]) -> Policies:
    rows = conn.execute(sqlfiles.read("pgops/table_policies.sql"), {"tables": list(tables)}).fetchall()
    return [dict(r) for r in rows]


def before_up(conn: Connection, migration: MigrationFile) -> None:
    """Inside the up's transaction, before its statements."""
    if migration.policy_tables:
        conn.execute("insert into pgops.policy_snapshots (version, policies) values (%s, %s) "
                     "on conflict (version) do update set policies = excluded.policies, taken_at = now()",
                     (migration.version, json.dumps(policies(conn, migration.policy_tables))))
    if migration.repeatable and migration.functions:
        conn.execute("delete from pgops.replaced_functions where version = %s", (migration.version,))
        for signature in migration.functions:
            row = conn.execute(sqlfiles.read("pgops/function_definition.sql"), {"signature": signature}).fetchone()
            conn.execute("insert into pgops.replaced_functions (version, signature, definition, acl) "
                         "values (%s, %s, %s, %s)", (migration.version, signature, row and row["definition"],
                                                      row and row["acl"]))


def _kept(conn: Connection, table: str) -> bool:
    """Ledgers written before pg_ops kept these records lack the table: then nothing is recorded."""
    row = conn.execute("select to_regclass(%s) is not null as ok", (table,)).fetchone()
    return bool(row and row["ok"])


def recorded_policies(conn: Connection, version: str) -> Policies | None:
    if not _kept(conn, "pgops.policy_snapshots"):
        return None
    row = conn.execute("select policies from pgops.policy_snapshots where version = %s", (version,)).fetchone()
    return None if row is None else list(row["policies"])


def policy_differences(before: Policies, after: Policies) -> list[str]:
    """One phrase per policy that is not as it was: missing, added, or changed (and in what)."""
    keyed_before = {(p["table"], p["policy"]): p for p in before}
    keyed_after = {(p["table"], p["policy"]): p for p in after}
    found = []
    for key in sorted(set(keyed_before) | set(keyed_after)):
        a, b = keyed_before.get(key), keyed_after.get(key)
        name = f"{key[0]} policy {key[1]}"
        if b is None:
            found.append(f"{name} is missing")
        elif a is None:
            found.append(f"{name} was not there before")
        else:
            changed = [field for field in ("cmd", "roles", "permissive", "qual", "with_check") if a[field] != b[field]]
            if changed:
                found.append(f"{name} differs in {', '.join(changed)}")
    return found


@dataclass(frozen=True)
class Replaced:
    signature: str
    definition: str | None  # None: the function did not exist before the file
    acl: list[str] | None  # None: the default privileges


def replaced(conn: Connection, version: str) -> dict[str, Replaced]:
    if not _kept(conn, "pgops.replaced_functions"):
        return {}
    rows = conn.execute("select signature, definition, acl from pgops.replaced_functions where version = %s",
                        (version,)).fetchall()
    return {r["signature"]: Replaced(r["signature"], r["definition"], r["acl"]) for r in rows}


def restore_statements(conn: Connection, signature: str, before: Replaced) -> list[sql.Composed | sql.SQL]:
    """Drop the file's function and put back what it replaced, with the privileges it had."""
    row = conn.execute("select to_regprocedure(%s)::text as current", (signature,)).fetchone()
    statements: list[sql.Composed | sql.SQL] = []
    if row and row["current"]:  # the canonical, quoted form the server printed, not text from config
        statements.append(sql.SQL("drop routine {}").format(sql.SQL(row["current"])))
    if before.definition is None:
        return statements
    statements.append(sql.SQL(before.definition))
    if before.acl is not None:
        restored = sql.SQL("function {}").format(sql.SQL(before.signature))
        statements.append(sql.SQL("revoke all on {} from public").format(restored))
        for grantee in before.acl:
            who = sql.SQL("public") if grantee == "PUBLIC" else sql.Identifier(grantee)
            statements.append(sql.SQL("grant execute on {} to {}").format(restored, who))
    return statements
