"""The one SQL loader: plain files under sql/, read as text."""

from __future__ import annotations

from functools import cache

from pg_ops.errors import PgOpsError
from pg_ops.paths import sql_dir


@cache
def read(relative: str) -> str:
    path = sql_dir() / relative
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PgOpsError(f"SQL file {path} is missing; reinstall pg_ops or set PG_OPS_ROOT") from None

