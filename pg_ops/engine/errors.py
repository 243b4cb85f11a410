"""The one error type pg_ops raises for anything a user can fix."""

from __future__ import annotations


class PgOpsError(Exception):
    """A failure a user can act on: one line naming what is wrong and what to do.

    The command line prints only this line and exits non-zero; Dagster shows it as the step failure.
    Messages never contain a password (see pg_ops.engine.db.redact).
    """

    def __init__(self, message: str) -> None:
        one_line = " ".join(message.split())
        super().__init__(one_line)
