"""Building an index concurrently without ever trusting IF NOT EXISTS.

A failed or cancelled CREATE INDEX CONCURRENTLY leaves an INVALID index behind, and IF NOT EXISTS then
keeps the broken one silently. Before a build we tell an invalid index apart from one still being built
(pg_stat_progress_create_index); a dead one is dropped concurrently only if its definition is the one
we intend; then we build, with bounded retries, and assert the result is valid and ready.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pglast
import psycopg
from pglast import ast, visitors
from pglast.stream import RawStream
from psycopg import sql

from pg_ops.engine import sqlfiles
from pg_ops.engine.db import Connection, Target, connect
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.migrations.migration_files import IndexBuild
from pg_ops.engine.poller import Poller

Log = Callable[[str], None]
# Errors after which a rebuild can succeed: a cancelled or killed build, a deadlock, a lost connection.
RETRYABLE = (psycopg.errors.QueryCanceled, psycopg.errors.AdminShutdown, psycopg.errors.DeadlockDetected,
             psycopg.errors.LockNotAvailable, psycopg.OperationalError)


class _Canonical(visitors.Visitor):
    """Drop casts and pg_catalog qualifiers, which pg_get_indexdef adds and a migration file leaves out."""

    def visit_TypeCast(self, ancestors: Any, node: ast.TypeCast) -> Any:
        return node.arg

    def visit_FuncCall(self, ancestors: Any, node: ast.FuncCall) -> None:
        names = [n.sval for n in node.funcname or ()]
        if len(names) == 2 and names[0] == "pg_catalog":
            node.funcname = (node.funcname[1],)  # type: ignore[index]


def canonical_definition(statement: str, default_schema: str = "public") -> str:
    stmt = pglast.parse_sql(statement)[0].stmt
    if not isinstance(stmt, ast.IndexStmt):
        raise ValueError(f"not a CREATE INDEX statement: {statement[:60]}")
    stmt.concurrent = False
    stmt.if_not_exists = False
    if stmt.relation is not None:
        stmt.relation.schemaname = stmt.relation.schemaname or default_schema
    return str(RawStream()(_Canonical()(stmt)))


@dataclass(frozen=True)
class IndexState:
    usable: bool
    definition: str
    size_bytes: int
    building_pid: int | None


def state(conn: Connection, build: IndexBuild) -> IndexState | None:
    row = conn.execute(sqlfiles.read("pgops/index_state.sql"),
                       {"schema": build.schema, "name": build.name}).fetchone()
    if row is None:
        return None
    return IndexState(usable=bool(row["usable"]), definition=row["definition"], size_bytes=int(row["size_bytes"]),
                      building_pid=row["building_pid"])


def build_watch(dsn: Target | str, pid: int, label: str, log: Log, every_s: float = 2.0) -> Poller:
    """Reports a build's phase and blocks, and which sessions it waits for, whenever that changes."""
    last = [""]

    def look(conn: Connection) -> None:
        row = conn.execute(sqlfiles.read("pgops/build_watch.sql"), {"pid": pid}).fetchone()
        if row is None:
            return
        line = f"{label}: {row['phase']}"
        if row["blocks_total"]:
            line += f", blocks {row['blocks_done']:,}/{row['blocks_total']:,}"
        if row["tuples_total"]:
            line += f", tuples {row['tuples_done']:,}/{row['tuples_total']:,}"
        if row["blockers"]:
            line += f"; waiting for {row['blockers']}"
        if line != last[0]:
            log(line)
            last[0] = line

    return Poller(dsn, look, every_s, "build watch", on_failure=log)


def _drop_concurrently(conn: Connection, build: IndexBuild) -> None:
    conn.execute(sql.SQL("drop index concurrently if exists {}.{}").format(
        sql.Identifier(build.schema), sql.Identifier(build.name)))


def ensure_index(dsn: Target | str, build: IndexBuild, log: Log, max_attempts: int = 3,
                 purpose: str = "migrate") -> str:
    """Make the intended index exist, valid and ready. Returns what was done, in a word or two."""
    intended = canonical_definition(build.statement, build.schema)
    for attempt in range(1, max_attempts + 1):
        with connect(dsn, purpose=purpose) as conn:
            current = state(conn, build)
            if current is not None:
                if canonical_definition(current.definition, build.schema) != intended:
                    raise PgOpsError(
                        f"index {build.qualified_name} exists with another definition ({current.definition}); "
                        f"pg_ops will not replace it: rename or drop it after checking what uses it")
                if current.building_pid is not None:
                    raise PgOpsError(f"index {build.qualified_name} is being built right now by pid "
                                     f"{current.building_pid}; wait for that build to finish, then run again")
                if current.usable:
                    return "already valid"
                log(f"{build.qualified_name}: INVALID leftover of a failed build (same definition); dropping it "
                    "concurrently")
                _drop_concurrently(conn, build)
            # No lock_timeout: it would cancel the build in its wait phase and leave an INVALID index.
            conn.execute("set lock_timeout = 0")
            conn.execute("set statement_timeout = 0")
            # If pg_ops dies (kill -9, a lost network), the build ends within a second instead of going on
            # as an orphan that the next run can only wait for; what it leaves, the next run rebuilds.
            conn.execute("set client_connection_check_interval = '1s'")
            pid = conn.info.backend_pid
            started = time.perf_counter()
            try:
                with build_watch(dsn, pid, build.qualified_name, log):
                    conn.execute(build.statement)
            except RETRYABLE as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                log(f"{build.qualified_name}: build attempt {attempt}/{max_attempts} failed: {reason}")
                if attempt == max_attempts:
                    _clean_leftover(dsn, build, purpose)
                    raise PgOpsError(f"building {build.qualified_name} failed {max_attempts} times; last error: "
                                     f"{reason}") from None
                time.sleep(min(2.0 * attempt, 10.0))
                continue
            except psycopg.Error as exc:
                _clean_leftover(dsn, build, purpose)
                first = str(exc).strip().splitlines()[0]
                raise PgOpsError(f"building {build.qualified_name} failed: {first}") from None
            seconds = time.perf_counter() - started
        with connect(dsn, purpose=purpose) as check:
            built = state(check, build)
        if built is None or not built.usable:
            raise PgOpsError(f"{build.qualified_name} is not valid and ready after its build; drop it and rerun")
        log(f"{build.qualified_name}: built in {seconds:.1f} s ({built.size_bytes / 2**20:.1f} MiB)")
        return "built"
    raise AssertionError("unreachable")


def _clean_leftover(dsn: Target | str, build: IndexBuild, purpose: str) -> None:
    """A build that failed for good leaves no INVALID index behind."""
    try:
        with connect(dsn, purpose=purpose) as conn:
            leftover = state(conn, build)
            if leftover is not None and not leftover.usable and leftover.building_pid is None:
                _drop_concurrently(conn, build)
    except (PgOpsError, psycopg.Error):
        pass


def verdicts(conn: Connection, builds: list[IndexBuild]) -> list[tuple[str, str]]:
    """Each intended index as it stands: "ok", "missing", "invalid" or "different definition: ..."."""
    found = []
    for build in builds:
        current = state(conn, build)
        if current is None:
            verdict = "missing"
        elif not current.usable:
            verdict = "invalid"
        elif canonical_definition(current.definition, build.schema) != canonical_definition(build.statement,
                                                                                             build.schema):
            verdict = f"different definition: {current.definition}"
        else:
            verdict = "ok"
        found.append((build.qualified_name, verdict))
    return found
