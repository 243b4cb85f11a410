"""pgops.pooler_deployments: every maintenance run against a live pooler, kept in the target database."""

from __future__ import annotations

import datetime as dt
import json

from pg_ops.engine import sqlfiles
from pg_ops.engine.db import Connection
from pg_ops.engine.pooler.deploy import Deployment, ini_sha256


def ensure(conn: Connection) -> None:
    conn.execute(sqlfiles.read("pooler/deployments.sql"))


def last_deployed(conn: Connection, pooler: str, ini_path: str) -> str | None:
    """The file pg_ops last left running there, or None before the first deploy."""
    row = conn.execute(sqlfiles.read("pooler/last_deployed.sql"), {"pooler": pooler, "ini_path": ini_path}).fetchone()
    return None if row is None else str(row["ini"])


def record(conn: Connection, done: Deployment, started_at: dt.datetime) -> int:
    kept_ini = done.ini if done.ok else None  # only a file that ran is a base for the next hand-edit diff
    row = conn.execute(sqlfiles.read("pooler/deployment_insert.sql"), {
        "started_at": started_at, "pooler": done.pooler, "ini_path": done.ini_path, "outcome": done.outcome,
        "detail": done.detail, "window_note": done.window_note, "restarted": done.restarted,
        "seconds": round(done.seconds, 3), "changes": json.dumps(done.changes),
        "ini_sha256": ini_sha256(kept_ini) if kept_ini else None, "ini": kept_ini,
    }).fetchone()
    assert row is not None
    return int(row["id"])
