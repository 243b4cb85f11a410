"""Running `pg-ops` as a user does: a subprocess, its exit code, and what it printed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def pg_ops(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("PG_OPS_DSN", "DAGSTER_HOME")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "pg_ops.cli", *args], capture_output=True, text=True,
                          env=full_env, cwd=REPO, timeout=timeout, check=False)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The contract for a user mistake: non-zero exit, exactly one line on stderr, no traceback."""
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    # "pg-ops: ..." or, for a command line that does not parse, "pg-ops demo: ..."; never the prefix twice
    assert re.match(r"pg-ops( [a-z]+)?: ", lines[0]), lines[0]
    assert not re.match(r"pg-ops( [a-z]+)?: pg-ops", lines[0]), lines[0]
    return lines[0]
