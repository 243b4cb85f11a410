"""A watchdog: a daemon thread on its own connection that looks at the database until told to stop."""

from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg

from pg_ops.db import Connection, connect
from pg_ops.errors import PgOpsError


class Poller:
    """Calls `look(conn)` every `every_s` seconds while the `with` block runs. A watchdog never fails
    the work it watches: if it cannot connect or a look fails, it stops looking."""

    def __init__(self, dsn: str, look: Callable[[Connection], None], every_s: float, application_name: str) -> None:
        self._dsn, self._look, self._every, self._name = dsn, look, every_s, application_name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=application_name, daemon=True)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            with connect(self._dsn, application_name=self._name) as conn:
                while not self._stop.wait(self._every):
                    self._look(conn)
        except (PgOpsError, psycopg.Error):
            return
