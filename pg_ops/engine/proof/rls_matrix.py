"""Who can see and write what: the platform's allow/deny matrix, taken as each kind of user.

Recorded before the RLS rewrite and compared after it: the rewrite must be faster and nothing else.
Writes are attempted in savepoints and rolled back, so taking the matrix changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from pg_ops.engine import sqlfiles
from pg_ops.engine.db import Target, connect

Matrix = dict[str, dict[str, str]]
BEFORE_REWRITE = "before_rls_rewrite"  # the label of the matrix recorded before any policy file runs
# The reads taken at one snapshot just before and just after the policy files ran (rls_policies).
READS_BEFORE, READS_AFTER = "reads_before_rewrite_one_snapshot", "reads_after_rewrite_one_snapshot"


def _attempts() -> list[tuple[str, str]]:
    text = sqlfiles.text("rls/attempts.sql")
    parts = re.split(r"^-- name: (\w+)\s*$", text, flags=re.MULTILINE)
    return [(parts[i], parts[i + 1].strip().rstrip(";")) for i in range(1, len(parts), 2)]


def _session(dsn: Target | str, snapshot: str | None) -> psycopg.Connection[Any]:
    """A transaction for the matrix; at `snapshot` (exported by another session) when given."""
    conn = connect(dsn, purpose="rls matrix", autocommit=False)
    if snapshot:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.execute(sql.SQL("set transaction snapshot {}").format(sql.Literal(snapshot)))
    return conn


def take(dsn: Target | str, snapshot: str | None = None, reads_only: bool = False) -> Matrix:
    """`snapshot`: the rows as another session's exported snapshot sees them, so that the matrix describes
    that moment even while the application writes. `reads_only`: only the reads (a write attempted at an
    old snapshot can fail on a row written since, which says nothing about the policies)."""
    matrix: Matrix = {}
    with _session(dsn, snapshot) as conn:
        users = conn.execute(sqlfiles.read("rls/users.sql")).fetchall()
        conn.rollback()
    for user in users:
        role = "anon" if user["id"] is None else "authenticated"
        claims = "" if user["id"] is None else json.dumps({"sub": str(user["id"]), "role": role})
        row: dict[str, str] = {}
        with _session(dsn, snapshot) as conn:
            conn.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
            conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
            for name, statement in _attempts():
                if reads_only and not name.startswith("read_"):
                    continue
                conn.execute("savepoint attempt")
                try:
                    cursor = conn.execute(statement, {"me": user["id"]})
                    if name.startswith("read_"):
                        ids = ",".join(str(r["id"]) for r in cursor.fetchall())
                        row[name] = f"{cursor.rowcount}:{hashlib.md5(ids.encode()).hexdigest()[:10]}"
                    else:
                        row[name] = f"rows={cursor.rowcount}"
                except psycopg.Error as exc:
                    row[name] = type(exc).__name__
                conn.execute("rollback to savepoint attempt")
            conn.rollback()
        matrix[user["who"]] = row
    return matrix


@contextmanager
def frozen(dsn: Target | str) -> Iterator[str]:
    """A snapshot of the rows, exported from an idle REPEATABLE READ session that holds no lock (so DDL goes
    on around it): matrices taken at it before and after a policy change read the same rows, while catalog
    lookups see the policies as they are when each is taken. Only the policies can make them differ."""
    with connect(dsn, purpose="rls matrix snapshot", autocommit=False) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        row = conn.execute("select pg_catalog.pg_export_snapshot() as s").fetchone()
        assert row is not None
        yield str(row["s"])
        conn.rollback()


def allow_deny(matrix: Matrix) -> Matrix:
    """Writes as allowed/none/the error, without their row counts: rows the application wrote since the
    matrix was taken change how many rows a write touches, not whether the policies let it."""
    def verdict(action: str, value: str) -> str:
        if action.startswith("read_") or not value.startswith("rows="):
            return value
        return "none" if value == "rows=0" else "allowed"
    return {who: {action: verdict(action, value) for action, value in row.items()} for who, row in matrix.items()}


def differences(before: Matrix, after: Matrix) -> list[str]:
    found = []
    for who in sorted(set(before) | set(after)):
        for action in sorted(set(before.get(who, {})) | set(after.get(who, {}))):
            a, b = before.get(who, {}).get(action), after.get(who, {}).get(action)
            if a != b:
                found.append(f"{who} {action}: {a} before, {b} after")
    return found


def save(dsn: Target | str, matrix: Matrix, label: str) -> None:
    with connect(dsn, purpose="rls matrix") as conn:
        conn.execute("create schema if not exists pgops")
        conn.execute(sqlfiles.read("pgops/rls_matrix.sql"))
        conn.execute(sqlfiles.read("pgops/rls_matrix_save.sql"), (label, json.dumps(matrix)))


def load(dsn: Target | str, label: str) -> Matrix | None:
    with connect(dsn, purpose="rls matrix") as conn:
        if conn.execute("select to_regclass('pgops.rls_matrix') is null as missing").fetchone() == {"missing": True}:
            return None
        row = conn.execute("select matrix from pgops.rls_matrix where label = %s", (label,)).fetchone()
    return None if row is None else dict(row["matrix"])
