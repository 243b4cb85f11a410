"""Turning pg_ops's one-line errors into Dagster failures that show just that line."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import dagster as dg

from pg_ops.engine.errors import PgOpsError

P = ParamSpec("P")
R = TypeVar("R")


def one_line_failures(fn: Callable[P, R]) -> Callable[P, R]:
    """A PgOpsError becomes dg.Failure: the run shows the line, not a traceback of our internals."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except PgOpsError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None

    return wrapper
