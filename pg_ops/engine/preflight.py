"""Is this database ready for a rollout? Each check passes, warns, or fails with one line."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg

from pg_ops.engine import sqlfiles
from pg_ops.engine.db import Connection, Target, connection, describe
from pg_ops.engine.migrations import ledger, migrate, schema_requirements
from pg_ops.engine.migrations.migration_files import MigrationFile

Status = Literal["pass", "warn", "fail"]
MIN_SERVER_VERSION = 140000
LONG_TRANSACTION_S = 300


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str


@dataclass
class PreflightResult:
    target: str
    server_version: str
    database_size_bytes: int
    settings: list[dict[str, Any]]
    checks: list[Check] = field(default_factory=list)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]

    def failure_message(self) -> str:
        return f"preflight failed on {self.target}: " + "; ".join(f"{c.name}: {c.detail}" for c in self.failures)


def _version_check(conn: Connection) -> Check:
    row = conn.execute("select current_setting('server_version_num')::int as num, "
                       "current_setting('server_version') as text").fetchone()
    assert row is not None
    if row["num"] < MIN_SERVER_VERSION:
        return Check("server_version", "fail", f"PostgreSQL {row['text']} is too old; pg_ops needs 14 or newer")
    return Check("server_version", "pass", f"PostgreSQL {row['text']}")


def _pg_stat_statements_check(conn: Connection) -> Check:
    try:
        row = conn.execute("select current_setting('shared_preload_libraries') as libs").fetchone()
    except psycopg.errors.InsufficientPrivilege:
        return _pg_stat_statements_by_use(conn)
    assert row is not None
    libraries = [lib.strip() for lib in row["libs"].split(",")]
    if "pg_stat_statements" not in libraries:
        return Check(
            "pg_stat_statements", "fail",
            "pg_stat_statements is not in shared_preload_libraries; add it in postgresql.conf "
            "(shared_preload_libraries = 'pg_stat_statements') and restart PostgreSQL",
        )
    return Check("pg_stat_statements", "pass", "preloaded")


def _pg_stat_statements_by_use(conn: Connection) -> Check:
    """Without pg_read_all_settings the setting is hidden; reading the view tells whether it is loaded."""
    try:
        conn.execute("select 1 from pg_stat_statements limit 1")
    except psycopg.errors.UndefinedTable:
        return Check("pg_stat_statements", "warn",
                     "cannot tell whether it is preloaded: this role may not read shared_preload_libraries and "
                     "the extension is not created; GRANT pg_read_all_settings to this role")
    except psycopg.errors.ObjectNotInPrerequisiteState:
        return Check("pg_stat_statements", "fail",
                     "pg_stat_statements is not in shared_preload_libraries; add it in postgresql.conf "
                     "(shared_preload_libraries = 'pg_stat_statements') and restart PostgreSQL")
    except psycopg.errors.InsufficientPrivilege:
        pass
    return Check("pg_stat_statements", "pass", "loaded (the extension answers)")


def _track_functions_check(conn: Connection) -> Check:
    row = conn.execute("select current_setting('track_functions') as value").fetchone()
    assert row is not None
    if row["value"] != "all":
        return Check(
            "track_functions", "warn",
            f"track_functions = {row['value']}, so RPC timings stay empty; run ALTER SYSTEM SET "
            "track_functions = 'all'; SELECT pg_reload_conf();",
        )
    return Check("track_functions", "pass", "all")


def _search_ranking_check(conn: Connection) -> Check:
    """Which index ranks catalog search after the rollout (016_product_search_rum.sql applies only with rum)."""
    row = conn.execute("select (select n.nspname from pg_extension e join pg_namespace n on n.oid = e.extnamespace "
                       "where e.extname = 'rum') as schema, exists (select 1 from pg_available_extensions "
                       "where name = 'rum') as offered").fetchone()
    assert row is not None
    if row["schema"] not in (None, "extensions"):
        return Check("search_ranking", "warn", f"rum is installed in schema {row['schema']}, but search_products "
                     "names it in schema extensions, so search ranks with GIN and ts_rank; move it with ALTER "
                     "EXTENSION rum SET SCHEMA extensions")
    if row["offered"]:
        return Check("search_ranking", "pass", "the rum extension is available: search is ranked by a RUM index")
    return Check("search_ranking", "warn", "the rum extension is not available: search is ranked by GIN and "
                 "ts_rank, slower for common words; install postgresql-15-rum (restart the server if apt upgraded "
                 "it) and run pg-ops migrate again")


def _privileges_check(conn: Connection) -> Check:
    role = conn.execute(
        sqlfiles.read("preflight/role_privileges.sql")).fetchone()
    assert role is not None
    if role["rolsuper"]:
        return Check("privileges", "pass", f"{role['name']} is a superuser")
    problems = []
    if not role["can_create"]:
        problems.append(f"{role['name']} cannot CREATE schemas in this database (GRANT CREATE ON DATABASE)")
    not_owned = conn.execute(sqlfiles.read("preflight/table_ownership.sql")).fetchall()
    if not_owned:
        names = ", ".join(r["table_name"] for r in not_owned[:5]) + (" ..." if len(not_owned) > 5 else "")
        problems.append(f"{role['name']} does not own {len(not_owned)} table(s) ({names}); CREATE INDEX "
                        "needs the owner: connect as the owner or a superuser")
    if problems:
        return Check("privileges", "fail", "; ".join(problems))
    return Check("privileges", "pass", f"{role['name']} owns every table and may create schemas")


def _long_transactions_check(conn: Connection, threshold_s: int) -> Check:
    sees_all = conn.execute("select pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') as ok").fetchone()
    if not (sees_all and sees_all["ok"]):
        return Check("long_transactions", "warn",
                     "cannot see other roles' transactions; GRANT pg_read_all_stats (or pg_monitor) to this role")
    rows = conn.execute(sqlfiles.read("preflight/long_transactions.sql"),
                        {"threshold_s": threshold_s}).fetchall()
    if rows:
        oldest = rows[0]
        return Check(
            "long_transactions", "fail",
            f"{len(rows)} transaction(s) open longer than {threshold_s // 60} min (oldest: pid {oldest['pid']}, "
            f"{oldest['usename']}, {oldest['open_s'] // 60} min, {oldest['state']}); they stall CREATE INDEX "
            f"CONCURRENTLY: end them (pg_terminate_backend) or wait",
        )
    return Check("long_transactions", "pass", f"none open longer than {threshold_s // 60} min")


def server_free_bytes(conn: Connection) -> tuple[int | None, str]:
    """Free bytes on the filesystem of the server's data directory, or None and why that cannot be known."""
    row = conn.execute("select setting from pg_settings where name = 'data_directory'").fetchone()
    if row is None:
        return None, "data_directory is visible to superusers only"
    try:
        return shutil.disk_usage(row["setting"]).free, ""
    except OSError:
        return None, "the server's data directory is not on this machine"


def _disk_check(conn: Connection, database_size: int) -> Check:
    """Free space on the data directory's filesystem, when the server is on this machine."""
    free, unknown = server_free_bytes(conn)
    if free is None:
        return Check("free_disk", "warn", f"unknown: {unknown}; check that the server has free space of at least "
                     "the database's size before building indexes")
    free_gb = free / 2**30
    # New indexes plus a dump of the database can take about the database's size again.
    if free < database_size:
        return Check("free_disk", "fail", f"{free_gb:.1f} GiB free, less than the database "
                     f"({database_size / 2**30:.1f} GiB); free space before building indexes")
    return Check("free_disk", "pass", f"{free_gb:.1f} GiB free")


def _platform_check(conn: Connection, migrations: list[MigrationFile]) -> Check:
    """Every table and column the pending migration files use is there: this is the database they are for."""
    try:
        rows = ledger.read(conn)
    except psycopg.errors.InsufficientPrivilege:
        return Check("platform_objects", "warn", "this role may not read the ledger pgops.schema_migrations, so "
                     "which files are pending is unknown; run pg_ops as the tables' owner or a superuser")
    pending = migrate.pending_files(migrate.applicable(migrations, migrate.available_extensions(conn)), rows)
    requirements = schema_requirements.required(pending)
    absent = schema_requirements.missing(conn, requirements)
    if absent:
        return Check("platform_objects", "fail", schema_requirements.refusal(describe(conn.info.dsn), absent))
    if not pending:
        return Check("platform_objects", "pass", "no migration file is pending")
    return Check("platform_objects", "pass", f"the {len(requirements.tables)} tables the {len(pending)} pending "
                 "files use exist, with every column their indexes name")


def check_target(dsn: Target | str, long_transaction_s: int = LONG_TRANSACTION_S, purpose: str = "preflight",
        connect_timeout_s: int | None = None, migrations: list[MigrationFile] | None = None) -> PreflightResult:
    with connection(dsn, purpose=purpose, connect_timeout_s=connect_timeout_s,
                    statement_timeout_ms=30_000) as conn:
        info = conn.execute("select version() as version, pg_database_size(current_database()) as size").fetchone()
        assert info is not None
        settings = conn.execute(sqlfiles.read("preflight/settings.sql")).fetchall()
        result = PreflightResult(target=describe(dsn), server_version=info["version"],
                                 database_size_bytes=int(info["size"]), settings=list(settings))
        result.checks = [
            _version_check(conn),
            _pg_stat_statements_check(conn),
            _track_functions_check(conn),
            _search_ranking_check(conn),
            _privileges_check(conn),
            _long_transactions_check(conn, long_transaction_s),
            _disk_check(conn, result.database_size_bytes),
            _platform_check(conn, migrate.all_files(migrate.Settings.platform()) if migrations is None else migrations),
        ]
    return result
