"""The one way pg_ops connects to PostgreSQL, and how it keeps passwords out of every message."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import conninfo
from psycopg.rows import dict_row

from pg_ops.engine.errors import PgOpsError

Connection = psycopg.Connection[dict[str, Any]]


@dataclass(frozen=True)
class Target:
    """The database pg_ops works on and how to reach it. Every connection the engine opens to it gets these
    settings; the engine adds only a purpose to the application name (`pg_ops migrate`, `pg_ops backup`)."""

    dsn: str = field(repr=False)  # may hold a password: never in a repr, a log or a message
    application_name: str = "pg_ops"
    connect_timeout_s: int = 10
    statement_timeout_ms: int | None = None

    @property
    def label(self) -> str:
        """user@host:port/db: safe for logs, metadata and tags."""
        return describe(self.dsn)

    def connect(self, purpose: str = "", **options: Any) -> Connection:
        return connect(self, purpose=purpose, **options)

    def with_conninfo(self, **changes: Any) -> Target:
        """The same target and settings, with other connection parameters (another database, another role)."""
        return replace(self, dsn=conninfo.make_conninfo(self.dsn, **changes))


def as_target(target: Target | str) -> Target:
    """A bare DSN (the command line, the tests) becomes a Target with the default settings."""
    return target if isinstance(target, Target) else Target(dsn=target)


def describe(target: Target | str) -> str:
    """`user@host:port/dbname` for messages: everything but the password."""
    dsn = target.dsn if isinstance(target, Target) else target
    try:
        parts = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparsable DSN>"
    user = parts.get("user") or "?"
    host = parts.get("host") or "localhost"
    port = parts.get("port") or "5432"
    dbname = parts.get("dbname") or user
    return f"{user}@{host}:{port}/{dbname}"


def as_uri(target: Target | str) -> str:
    """The DSN as a postgresql:// URI: postgres_exporter's DATA_SOURCE_NAME takes no key=value strings."""
    parts = conninfo.conninfo_to_dict(as_target(target).dsn)
    credentials = quote(str(parts.get("user") or ""), safe="")
    if parts.get("password"):
        credentials += ":" + quote(str(parts["password"]), safe="")
    return (f"postgresql://{credentials}@{parts.get('host') or 'localhost'}:{parts.get('port') or 5432}/"
            f"{quote(str(parts.get('dbname') or ''), safe='')}")


def redact(text: str, target: Target | str | None = None) -> str:
    """Remove the DSN's password, and any password= or URI password, from `text`."""
    dsn = as_target(target).dsn if target else None
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
    target: Target | str,
    *,
    purpose: str = "",
    application_name: str | None = None,
    connect_timeout_s: int | None = None,
    statement_timeout_ms: int | None = None,
    autocommit: bool = True,
    password_hint: str = "",
) -> Connection:
    """Open a connection with the target's settings (timeouts given here win), named after the target's
    application name and `purpose`, or raise PgOpsError with a one-line reason that never holds the password.
    `password_hint` replaces the usual advice when the server refused the login: where that user's password
    really comes from."""
    settings = as_target(target)
    dsn = settings.dsn
    # A whole name is for sessions not opened on the engine's behalf (a test's stand-in application).
    application_name = application_name or f"{settings.application_name} {purpose}".strip()
    connect_timeout_s = settings.connect_timeout_s if connect_timeout_s is None else connect_timeout_s
    statement_timeout_ms = settings.statement_timeout_ms if statement_timeout_ms is None else statement_timeout_ms
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
def connection(target: Target | str, **kwargs: Any) -> Iterator[Connection]:
    conn = connect(target, **kwargs)
    try:
        yield conn
    finally:
        conn.close()


def lost_connection(exc: psycopg.OperationalError) -> PgOpsError:
    """A connection that died under a running step (the server restarted, or an administrator ended the
    session): one line instead of a traceback, without any password."""
    first = (str(exc).strip().splitlines() or ["no message"])[0]
    return PgOpsError(f"the connection to the database was lost ({redact(first)}); when the server is back, "
                      "run the same command again")
