"""Turning pg_ops's one-line errors into Dagster failures that show just that line."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import dagster as dg
import psycopg

from pg_ops.engine.db import lost_connection
from pg_ops.engine.errors import PgOpsError

P = ParamSpec("P")
R = TypeVar("R")


def one_line_failures(fn: Callable[P, R]) -> Callable[P, R]:
    """A PgOpsError, or a connection lost under the step, becomes dg.Failure: the run shows the line, not a
    traceback of our internals."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except PgOpsError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        except psycopg.OperationalError as exc:
            raise dg.Failure(description=str(lost_connection(exc)), allow_retries=False) from None

    return wrapper
