"""The monitoring schema in the target database: pg_stat_statements, the views of sql/monitoring/, and
a read-only `monitoring` role that may read those views and nothing else."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from pg_ops.engine import sqlfiles
from pg_ops.engine.db import Connection, Target, as_target, connect
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.migrations import migrate
from pg_ops.engine.paths import sql_dir

ROLE = "monitoring"
PASSWORD_ENV = "MONITORING_PASSWORD"
Log = Callable[[str], None]


@dataclass
class MonitoringReport:
    extension_schema: str
    views: list[str]
    applied: list[str]
    role: str


def password_from_env() -> str:
    password = os.environ.get(PASSWORD_ENV, "")
    if not password:
        raise PgOpsError(f"{PASSWORD_ENV} is not set; export the password the monitoring role (and the exporter) "
                         "will log in with")
    return password


def ensure_pg_stat_statements(conn: Connection) -> str:
    """Create the extension where Supabase keeps extensions (schema `extensions`) if it exists, else public."""
    libs = conn.execute("select current_setting('shared_preload_libraries') as libs").fetchone()
    if not libs or "pg_stat_statements" not in [x.strip() for x in libs["libs"].split(",")]:
        raise PgOpsError("pg_stat_statements is not in shared_preload_libraries; add it in postgresql.conf "
                         "(shared_preload_libraries = 'pg_stat_statements') and restart PostgreSQL")
    row = conn.execute(sqlfiles.read("pgops/extension_schema.sql")).fetchone()
    if row:
        return str(row["schema"])
    has_extensions = conn.execute("select 1 from pg_namespace where nspname = 'extensions'").fetchone()
    schema = "extensions" if has_extensions else "public"
    conn.execute(sql.SQL("create extension if not exists pg_stat_statements with schema {}").format(
        sql.Identifier(schema)))
    return schema


def ensure_role(conn: Connection, password: str) -> str:
    """LOGIN, pg_monitor (INHERIT: pg_stat_activity checks the calling role, not the view's owner), the
    views, and nothing else. The password reaches the server only as a SCRAM verifier computed here, in a
    statement pg_stat_statements does not record."""
    verifier = conn.pgconn.encrypt_password(password.encode(), ROLE.encode(), b"scram-sha-256").decode()
    exists = conn.execute("select 1 from pg_roles where rolname = %s", (ROLE,)).fetchone()
    conn.execute("set pg_stat_statements.track_utility = off")
    try:
        verb = "alter" if exists else "create"
        conn.execute(sql.SQL(verb + " role {} login nosuperuser nocreatedb nocreaterole inherit password {}").format(
            sql.Identifier(ROLE), sql.Literal(verifier)))
    finally:
        conn.execute("reset pg_stat_statements.track_utility")
    database = conn.execute("select current_database() as d").fetchone()
    assert database is not None
    for statement in (
        sql.SQL("grant pg_monitor to {}").format(sql.Identifier(ROLE)),
        sql.SQL("grant connect on database {} to {}").format(sql.Identifier(database["d"]), sql.Identifier(ROLE)),
        sql.SQL("grant usage on schema monitoring to {}").format(sql.Identifier(ROLE)),
        sql.SQL("grant select on all tables in schema monitoring to {}").format(sql.Identifier(ROLE)),
    ):
        conn.execute(statement)
    return "created" if not exists else "updated"


def apply(dsn: Target | str, password: str, log: Log = lambda _: None) -> MonitoringReport:
    with connect(dsn, purpose="monitoring") as conn:
        schema = ensure_pg_stat_statements(conn)
    settings = migrate.Settings(migrations_dir=None, functions_dir=sql_dir() / "monitoring",
                                squawk_config=sql_dir() / "monitoring" / "squawk.toml",
                                search_path=f"monitoring, {schema}, pg_catalog",
                                purpose="monitoring")
    report = migrate.apply(dsn, settings, step="monitoring_schema", log=log)
    with connect(dsn, purpose="monitoring") as conn:
        role = ensure_role(conn, password)
        conn.execute(sqlfiles.read("pgops/monitoring_snapshots.sql"))  # the sensor's history
        views = [r["viewname"] for r in conn.execute(
            "select viewname from pg_views where schemaname = 'monitoring' order by 1")]
    return MonitoringReport(extension_schema=schema, views=views, applied=[a.label for a in report.applied],
                            role=role)


ROLE_PASSWORD_HINT = (f"{PASSWORD_ENV} must be the password monitoring_schema gave the role: materialize it again "
                      "with this password")


def connect_as_role(role_dsn: Target | str, **options: Any) -> Connection:
    """A session as the monitoring role; a refused login names MONITORING_PASSWORD, not PG_OPS_DSN."""
    return connect(role_dsn, password_hint=ROLE_PASSWORD_HINT, **options)


def role_target(dsn: Target | str, password: str) -> Target:
    """The target, logged in as the monitoring role, its settings kept: how pg_ops itself reads the views."""
    return as_target(dsn).with_conninfo(user=ROLE, password=password)


def role_dsn(dsn: Target | str, password: str) -> str:
    """The monitoring role's DSN, for what takes a plain string (postgres_exporter, psql)."""
    return role_target(dsn, password).dsn


def expected_views() -> list[str]:
    """The views sql/monitoring/ defines: one file per view, named after it."""
    return sorted(path.stem for path in (sql_dir() / "monitoring").glob("*.sql") if not path.stem[:1].isdigit())


@dataclass(frozen=True)
class ViewRead:
    view: str
    rows: list[dict[str, Any]]
    seconds: float
    error: str | None = None


def read_each(conn: Connection, views: list[str] | None = None, deadline: float | None = None) -> list[ViewRead]:
    """Every monitoring view on an open connection, each its own statement (so each under the session's
    statement_timeout). A broken or missing view is a failed read and the others are still read; views left
    when the `deadline` (time.monotonic()) has passed are failed reads too; a lost connection raises PgOpsError."""
    reads = []
    for view in views if views is not None else expected_views():
        if deadline is not None and time.monotonic() > deadline:
            reads.append(ViewRead(view, [], 0.0, "not read: the snapshot ran out of time"))
            continue
        started = time.perf_counter()
        try:
            rows = conn.execute(sql.SQL("select * from monitoring.{}").format(sql.Identifier(view))).fetchall()
            reads.append(ViewRead(view, rows, time.perf_counter() - started))
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if conn.broken or conn.closed:
                raise PgOpsError(f"lost the connection while reading monitoring.{view}: {reason}") from None
            reads.append(ViewRead(view, [], time.perf_counter() - started, reason))
    return reads


def read_views(dsn: Target | str, statement_timeout_ms: int = 5000) -> dict[str, list[dict[str, Any]]]:
    """Every monitoring view, each under its own statement_timeout; a broken view raises PgOpsError."""
    with connect_as_role(dsn, purpose="monitoring read",
                         statement_timeout_ms=statement_timeout_ms) as conn:
        reads = read_each(conn)
    for read in reads:
        if read.error:
            raise PgOpsError(f"monitoring.{read.view} failed: {read.error}")
    return {read.view: read.rows for read in reads}
