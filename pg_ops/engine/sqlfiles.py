"""The one SQL loader: plain files under sql/, as queries psycopg runs as they are."""

from __future__ import annotations

from functools import cache
from typing import LiteralString, cast

from psycopg import sql

from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.paths import sql_dir


@cache
def text(relative: str) -> str:
    """A file's text, for the callers that parse it rather than run it."""
    path = sql_dir() / relative
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PgOpsError(f"SQL file {path} is missing; reinstall pg_ops or set PG_OPS_ROOT") from None


def read(relative: str) -> sql.SQL:
    """A file as a query (its placeholders left for psycopg). The files are ours, never user input, which is
    what psycopg's LiteralString asks for."""
    return sql.SQL(cast(LiteralString, text(relative)))


@cache
def view_query(relative: str) -> sql.SQL:
    """The SELECT of the one CREATE VIEW in a file: a monitoring view's logic run where the view may not exist
    (the linter on a database pg_ops never set up), so the rule lives in one place."""
    import pglast
    from pglast import ast
    from pglast.stream import RawStream

    for raw in pglast.parse_sql(text(relative)):
        if isinstance(raw.stmt, ast.ViewStmt) and raw.stmt.query is not None:
            return sql.SQL(cast(LiteralString, str(RawStream()(raw.stmt.query))))
    raise PgOpsError(f"SQL file {sql_dir() / relative} has no CREATE VIEW; reinstall pg_ops")
