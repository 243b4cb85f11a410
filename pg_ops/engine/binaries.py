"""Finding PostgreSQL's server and client programs on this machine."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from pg_ops.engine.errors import PgOpsError

SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres")
SEARCH_ROOT = Path("/usr/lib/postgresql")
INSTALL_HINT = "install the server: apt-get install postgresql-15 (or set PG_OPS_PG_BIN to its bin folder)"


def _has_server(bindir: Path) -> bool:
    return all((bindir / name).is_file() for name in SERVER_PROGRAMS)


def _major(bindir: Path) -> int:
    match = re.search(r"/postgresql/(\d+)/", str(bindir) + "/")
    return int(match.group(1)) if match else 0


def find_bindir() -> Path:
    """PG_OPS_PG_BIN, else `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin."""
    configured = os.environ.get("PG_OPS_PG_BIN")
    if configured:
        if _has_server(Path(configured)):
            return Path(configured)
        raise PgOpsError(f"PG_OPS_PG_BIN={configured} has no initdb, pg_ctl and postgres; {INSTALL_HINT}")
    pg_config = shutil.which("pg_config")  # Debian's wrapper answers for the newest installed major
    if pg_config:
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        bindir = Path(result.stdout.strip())
        if result.returncode == 0 and _has_server(bindir):
            return bindir
    found = sorted(
        (p for p in SEARCH_ROOT.glob("*/bin") if _has_server(p)), key=_major, reverse=True
    )
    if found:
        return found[0]
    raise PgOpsError(f"PostgreSQL server programs (initdb, pg_ctl, postgres) not found; {INSTALL_HINT}")


def server_major(bindir: Path) -> int:
    out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=True)
    match = re.search(r"(\d+)(?:\.\d+)?", out.stdout)
    if not match:
        raise PgOpsError(f"cannot read the PostgreSQL version from {bindir / 'postgres'} --version")
    return int(match.group(1))
