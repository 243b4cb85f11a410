"""`pg-ops sandbox`: a real cluster's whole life, through the command line."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pg_ops.engine import binaries
from pg_ops.engine.db import connection
from pg_ops.engine.errors import PgOpsError
from pg_ops.local import sandbox
from tests.cli import one_line_error, pg_ops


@pytest.fixture
def state_dir() -> Iterator[dict[str, str]]:
    folder = tempfile.mkdtemp(prefix="pgops-test-sandbox.", dir="/tmp")
    env = {"PG_OPS_STATE_DIR": folder}
    yield env
    pg_ops("sandbox", "down", "--purge", env=env)
    shutil.rmtree(folder, ignore_errors=True)


def _pid_of(status_line: str) -> str:
    return status_line.split("(pid ", 1)[1].split(")", 1)[0]


def test_lifecycle_up_idempotent_down_keeps_data_purge_removes(state_dir: dict[str, str]) -> None:
    first = pg_ops("sandbox", "up", env=state_dir)
    assert first.returncode == 0, first.stderr
    dsn = first.stdout.strip().splitlines()[-1]
    assert dsn.startswith("postgresql://postgres@127.0.0.1:") and dsn.endswith("/delivery")

    with connection(dsn) as conn:
        settings = {r["name"]: r["setting"] for r in conn.execute(
            "select name, setting from pg_settings where name in "
            "('shared_preload_libraries', 'track_functions', 'track_io_timing', 'listen_addresses')")}
        conn.execute("create table kept (note text); insert into kept values ('survives down')")
    assert settings == {"shared_preload_libraries": "pg_stat_statements", "track_functions": "all",
                        "track_io_timing": "on", "listen_addresses": "127.0.0.1"}

    status = pg_ops("sandbox", "status", env=state_dir).stdout
    assert "running" in status
    again = pg_ops("sandbox", "up", env=state_dir)
    assert again.returncode == 0 and "nothing changed" in again.stdout
    assert _pid_of(pg_ops("sandbox", "status", env=state_dir).stdout) == _pid_of(status)
    assert pg_ops("sandbox", "dsn", env=state_dir).stdout.strip() == dsn

    pid = int(_pid_of(status))
    down = pg_ops("sandbox", "down", env=state_dir)
    assert down.returncode == 0 and f"stopped sandbox (pid {pid})" in down.stdout
    assert not sandbox.process_alive(pid)
    assert "stopped; data kept" in pg_ops("sandbox", "status", env=state_dir).stdout
    assert "not running" in one_line_error(pg_ops("sandbox", "dsn", env=state_dir))

    assert pg_ops("sandbox", "up", env=state_dir).returncode == 0
    with connection(dsn) as conn:
        assert conn.execute("select note from kept").fetchone() == {"note": "survives down"}

    purge = pg_ops("sandbox", "down", "--purge", env=state_dir)
    assert purge.returncode == 0
    assert not (Path(state_dir["PG_OPS_STATE_DIR"]) / "sandbox").exists()
    assert "no sandbox" in pg_ops("sandbox", "status", env=state_dir).stdout


def test_taken_port_moves_to_a_free_one(state_dir: dict[str, str]) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        result = pg_ops("sandbox", "up", "--port", str(taken), env=state_dir)
    assert result.returncode == 0, result.stderr
    assert f"port {taken} is taken; using " in result.stdout
    dsn = result.stdout.strip().splitlines()[-1]
    assert f":{taken}/" not in dsn
    with connection(dsn) as conn:
        assert conn.execute("select 1 as one").fetchone() == {"one": 1}


def test_missing_server_binaries_name_the_package(state_dir: dict[str, str], tmp_path: Path) -> None:
    result = pg_ops("sandbox", "up", env={**state_dir, "PG_OPS_PG_BIN": str(tmp_path)})
    line = one_line_error(result)
    assert "apt-get install postgresql-15" in line
    assert not (Path(state_dir["PG_OPS_STATE_DIR"]) / "sandbox" / "data").exists()


def test_binaries_found_without_pg_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no pg_config anywhere
    monkeypatch.delenv("PG_OPS_PG_BIN", raising=False)
    assert (binaries.find_bindir() / "initdb").is_file()
    monkeypatch.setattr(binaries, "SEARCH_ROOT", tmp_path)
    with pytest.raises(PgOpsError, match="apt-get install postgresql-15"):
        binaries.find_bindir()
