"""A watchdog: a daemon thread on its own connection that looks at the database until told to stop."""

from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg

from pg_ops.engine.db import Connection, Target, as_target, connect
from pg_ops.engine.errors import PgOpsError


class Poller:
    """Calls `look(conn)` every `every_s` seconds while the `with` block runs.

    A watchdog never fails the work it watches: if it cannot connect or a look fails, it stops looking,
    and says so once through `on_failure` (a silent watchdog looks exactly like one with nothing to say).
    """

    def __init__(self, dsn: Target | str, look: Callable[[Connection], None], every_s: float, purpose: str,
                 on_failure: Callable[[str], None] | None = None) -> None:
        self._dsn, self._look, self._every, self._purpose = dsn, look, every_s, purpose
        self._name = f"{as_target(dsn).application_name} {purpose}"
        self._on_failure = on_failure
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            with connect(self._dsn, purpose=self._purpose) as conn:
                while not self._stop.wait(self._every):
                    self._look(conn)
        except (PgOpsError, psycopg.Error) as exc:
            if self._on_failure is not None and not self._stop.is_set():
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                self._on_failure(f"{self._name} stopped: {reason}; the work it watches goes on")
