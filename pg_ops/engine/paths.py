"""Where pg_ops finds its SQL and monitoring files, and where it keeps local state."""

from __future__ import annotations

import os
from pathlib import Path

from pg_ops.engine.errors import PgOpsError

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # pg_ops/


def project_root() -> Path:
    """The folder holding `sql/` and `monitoring/`.

    `PG_OPS_ROOT` wins, and a set root without sql/ is an error; then the copy shipped inside a wheel
    (`pg_ops/_share`); then the source checkout the package was installed from in editable mode.
    """
    configured = os.environ.get("PG_OPS_ROOT", "").strip()
    if configured:
        # A set root is what the user meant: falling back to another sql/ would run files they did not choose.
        if not (Path(configured) / "sql").is_dir():
            raise PgOpsError(f"PG_OPS_ROOT={configured} has no sql/ folder; point it at a pg_ops checkout "
                             "(the folder holding sql/ and monitoring/), or unset it")
        return Path(configured).resolve()
    candidates = [_PACKAGE_DIR / "_share", _PACKAGE_DIR.parent]
    for candidate in candidates:
        if (candidate / "sql").is_dir():
            return candidate.resolve()
    raise PgOpsError(
        f"cannot find the sql/ folder (looked in {', '.join(str(c) for c in candidates)}); "
        "set PG_OPS_ROOT to the pg_ops checkout"
    )


def sql_dir() -> Path:
    return project_root() / "sql"


def monitoring_dir() -> Path:
    return project_root() / "monitoring"


def state_dir() -> Path:
    """Local state: the sandbox cluster, Dagster's home, backups. Git-ignored."""
    return Path(os.environ.get("PG_OPS_STATE_DIR", ".pg_ops")).resolve()
