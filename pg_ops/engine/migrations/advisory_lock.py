"""One runner per database: a session advisory lock on a connection that stays idle outside transactions.

The holder never sits in an open transaction, so CREATE INDEX CONCURRENTLY (which waits for every
transaction older than its snapshot) never waits for it: the deadlock Flyway hit (flyway#1654) cannot
happen. Waiters poll pg_try_advisory_lock in autocommit, for the same reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pg_ops.engine import sqlfiles
from pg_ops.engine.db import Target, connect, describe
from pg_ops.engine.errors import PgOpsError

# 'pgops' as a number: the key every pg_ops runner takes on the target database.
LOCK_KEY = 0x70676F7073


def holder(conn_dsn: Target | str) -> str:
    with connect(conn_dsn, purpose="lock probe") as probe:
        row = probe.execute(
            sqlfiles.read("pgops/runner_lock_holder.sql"), (LOCK_KEY,)).fetchone()
    if row is None:
        return "another session"
    return (f"pid {row['pid']} ({row['usename']}, {row['application_name'] or 'no application_name'} from "
            f"{row['client']}, connected {row['age_s']} s ago)")


@contextmanager
def runner_lock(dsn: Target | str, wait_s: float, log: Callable[[str], None], poll_s: float = 1.0) -> Iterator[None]:
    conn = connect(dsn, purpose="runner lock")
    try:
        deadline = time.monotonic() + wait_s
        announced = False
        while True:
            got = conn.execute("select pg_try_advisory_lock(%s) as ok", (LOCK_KEY,)).fetchone()
            if got and got["ok"]:
                break
            if time.monotonic() >= deadline:
                raise PgOpsError(f"another pg_ops rollout is running on {describe(dsn)}: {holder(dsn)} holds the "
                                 f"runner lock; waited {wait_s:.0f} s. Let it finish, then run again")
            if not announced:
                log(f"waiting for the runner lock on {describe(dsn)}, held by {holder(dsn)}")
                announced = True
            time.sleep(poll_s)
        yield
    finally:
        conn.close()  # closing the session releases the lock, also after an error
