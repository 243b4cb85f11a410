"""The one way pg_ops connects to PostgreSQL, and how it keeps passwords out of every message."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import conninfo
from psycopg.rows import dict_row

from pg_ops.engine.errors import PgOpsError

Connection = psycopg.Connection[dict[str, Any]]


def describe(dsn: str) -> str:
    """`user@host:port/dbname` for messages: everything but the password."""
    try:
        parts = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparsable DSN>"
    user = parts.get("user") or "?"
    host = parts.get("host") or "localhost"
    port = parts.get("port") or "5432"
    dbname = parts.get("dbname") or user
    return f"{user}@{host}:{port}/{dbname}"


def as_uri(dsn: str) -> str:
    """The DSN as a postgresql:// URI: postgres_exporter's DATA_SOURCE_NAME takes no key=value strings."""
    parts = conninfo.conninfo_to_dict(dsn)
    credentials = quote(str(parts.get("user") or ""), safe="")
    if parts.get("password"):
        credentials += ":" + quote(str(parts["password"]), safe="")
    return (f"postgresql://{credentials}@{parts.get('host') or 'localhost'}:{parts.get('port') or 5432}/"
            f"{quote(str(parts.get('dbname') or ''), safe='')}")


def redact(text: str, dsn: str | None = None) -> str:
    """Remove the DSN's password, and any password= or URI password, from `text`."""
    if dsn:
        try:
            password = conninfo.conninfo_to_dict(dsn).get("password")
        except psycopg.ProgrammingError:
            password = None
        if password:
            text = text.replace(str(password), "***")
    text = re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", text, flags=re.IGNORECASE)
    return re.sub(r"(postgres(?:ql)?://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)


def _one_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    # libpq puts the useful part last: 'connection to server at ... failed: FATAL: password ...'
    return lines[0] if len(lines) == 1 else "; ".join(lines[:2])


def connect(
    dsn: str,
    *,
    application_name: str = "pg_ops",
    connect_timeout_s: int = 10,
    statement_timeout_ms: int | None = None,
    autocommit: bool = True,
    password_hint: str = "",
) -> Connection:
    """Open a connection, or raise PgOpsError with a one-line reason that never holds the password.
    `password_hint` replaces the usual advice when the server refused the login: where that user's password
    really comes from."""
    if not dsn or not dsn.strip():
        raise PgOpsError("no database given: set PG_OPS_DSN to postgresql://user@host:port/dbname")
    try:
        conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise PgOpsError(f"PG_OPS_DSN is not a valid connection string: {redact(_one_line(exc), dsn)}") from None
    options: dict[str, Any] = {"application_name": application_name, "connect_timeout": connect_timeout_s}
    if statement_timeout_ms is not None:
        options["options"] = f"-c statement_timeout={int(statement_timeout_ms)}"
    try:
        return psycopg.connect(dsn, autocommit=autocommit, row_factory=dict_row, **options)
    except psycopg.OperationalError as exc:
        reason = redact(_one_line(exc), dsn)
        refused = "authentication failed" in reason or re.search(r'role "[^"]*" does not exist', reason)
        hint = (refused and password_hint) or "check host, port, user and password (PG_OPS_DSN, PGPASSWORD or " \
            "~/.pgpass)"
        raise PgOpsError(f"cannot connect to {describe(dsn)}: {reason}; {hint}") from None


@contextmanager
def connection(dsn: str, **kwargs: Any) -> Iterator[Connection]:
    conn = connect(dsn, **kwargs)
    try:
        yield conn
    finally:
        conn.close()
