"""A throwaway PostgreSQL cluster on loopback: the embedded default when no database is configured.

As root, initdb and postgres refuse to run, so the cluster runs as the `postgres` OS user. The superuser
`postgres` connects over 127.0.0.1 without a password (this cluster is a local throwaway); every other
role needs its password (scram-sha-256), so password handling is exercised for real.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from psycopg import sql

from pg_ops.engine import binaries
from pg_ops.engine.db import connection
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.paths import state_dir
from pg_ops.engine.processes import free_port, process_alive

DEFAULT_PORT = 54329
DEMO_DB = "delivery"
DAGSTER_DB = "dagster"
SUPERUSER = "postgres"

# The server settings pg_ops relies on, plus throughput settings that suit a disposable cluster.
SERVER_SETTINGS: dict[str, str] = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",
    "shared_preload_libraries": "'pg_stat_statements'",
    "pg_stat_statements.max": "10000",
    "track_functions": "'all'",
    "track_io_timing": "on",
    "max_connections": "100",
    "shared_buffers": "'1GB'",
    "work_mem": "'32MB'",
    "maintenance_work_mem": "'512MB'",
    "effective_cache_size": "'8GB'",
    "random_page_cost": "1.1",
    "max_wal_size": "'4GB'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "jit": "off",
    "logging_collector": "off",
    "log_min_messages": "warning",
}


@dataclass(frozen=True)
class SandboxInfo:
    port: int
    bindir: str
    data_dir: str
    log_file: str

    def dsn(self, dbname: str = DEMO_DB, user: str = SUPERUSER) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"


def home() -> Path:
    return state_dir() / "sandbox"


def _info_file(root: Path) -> Path:
    return root / "sandbox.json"


def _runs_as_postgres() -> dict[str, Any]:
    """subprocess arguments that drop root to the postgres OS user (initdb/postgres refuse root)."""
    if os.geteuid() != 0:
        return {}
    try:
        pwd.getpwnam(SUPERUSER)
    except KeyError:
        raise PgOpsError(
            "running as root needs the 'postgres' OS user to own the sandbox; apt-get install postgresql-15 "
            "creates it"
        ) from None
    return {"user": SUPERUSER, "group": SUPERUSER, "extra_groups": []}


def _chown_to_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SUPERUSER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _run(argv: list[str], what: str, root: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8", "HOME": str(root)}
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, **_runs_as_postgres())
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise PgOpsError(f"{what} failed: {detail[-1] if detail else 'exit ' + str(result.returncode)}")
    return result


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the postmaster binds: connections of a server just stopped (TIME_WAIT) do not hold the port.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def load_info(root: Path | None = None) -> SandboxInfo | None:
    try:
        return SandboxInfo(**json.loads(_info_file(root or home()).read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


def server_pid(info: SandboxInfo) -> int | None:
    """The postmaster's PID if it is alive, from the first line of postmaster.pid."""
    try:
        pid = int((Path(info.data_dir) / "postmaster.pid").read_text().split("\n", 1)[0])
    except (FileNotFoundError, ValueError, PermissionError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def _accepts_connections(info: SandboxInfo) -> bool:
    result = subprocess.run(
        [str(Path(info.bindir) / "pg_isready"), "-h", "127.0.0.1", "-p", str(info.port), "-t", "2"],
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def _initdb(bindir: Path, data_dir: Path, settings: dict[str, str]) -> None:
    _run(
        [str(bindir / "initdb"), "-D", str(data_dir), "-U", SUPERUSER, "-E", "UTF8", "--locale=C.UTF-8",
         "--no-sync", "--auth-local=trust", "--auth-host=scram-sha-256"],
        "initdb",
        data_dir.parent,
    )
    hba = data_dir / "pg_hba.conf"
    # The throwaway superuser logs in without a password on loopback only; everyone else needs one.
    hba.write_text(f"host all {SUPERUSER} 127.0.0.1/32 trust\n" + hba.read_text())
    with (data_dir / "postgresql.conf").open("a") as conf:
        conf.write("\n# pg_ops sandbox\n")
        for name, value in settings.items():
            conf.write(f"{name} = {value}\n")


def _check_traversable(folder: Path) -> None:
    """As root the server runs as `postgres`, which must be able to reach its data directory."""
    if os.geteuid() != 0:
        return
    probe = subprocess.run(["test", "-w", str(folder)], check=False, **_runs_as_postgres())
    if probe.returncode != 0:
        raise PgOpsError(
            f"the postgres OS user cannot write to {folder}; make its parent folders traversable "
            f"(chmod o+x) or set PG_OPS_STATE_DIR to a folder under /tmp"
        )


def up(
    port: int | None = None, root: Path | None = None, settings: dict[str, str] | None = None
) -> tuple[SandboxInfo, list[str]]:
    """Start the sandbox (creating it if needed). Returns its info and what was done, line by line.

    `root` and `settings` exist for tests, which start clusters of their own with other settings.
    """
    notes: list[str] = []
    root = root or home()
    info = load_info(root)
    if info and server_pid(info) and _accepts_connections(info):
        return info, [f"sandbox already running on 127.0.0.1:{info.port}; nothing changed"]

    bindir = binaries.find_bindir()
    major = binaries.server_major(bindir)
    if major < 14:
        raise PgOpsError(f"PostgreSQL {major} in {bindir} is too old; pg_ops needs 14 or newer (15 tested)")
    root.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0 and root.parent == state_dir():
        # pg_ops's own state folder: the server's OS user must pass through it (parents are left alone).
        root.parent.chmod(root.parent.stat().st_mode | 0o011)
    _chown_to_postgres(root)
    _check_traversable(root)
    data_dir = root / "data"
    if not (data_dir / "PG_VERSION").exists():
        _initdb(bindir, data_dir, {**SERVER_SETTINGS, **(settings or {})})
        notes.append(f"created cluster (PostgreSQL {major}) in {data_dir}")

    wanted = port or (info.port if info else DEFAULT_PORT)
    chosen = wanted if port_is_free(wanted) else free_port()
    if chosen != wanted:
        notes.append(f"port {wanted} is taken; using {chosen}")
    info = SandboxInfo(port=chosen, bindir=str(bindir), data_dir=str(data_dir), log_file=str(root / "server.log"))
    log = Path(info.log_file)
    log.touch(exist_ok=True)
    _chown_to_postgres(log)
    _run(
        [str(bindir / "pg_ctl"), "-D", str(data_dir), "-l", info.log_file, "-w", "-t", "60",
         "-o", f"-p {chosen}", "start"],
        f"starting PostgreSQL (log: {info.log_file})",
        root,
    )
    _info_file(root).write_text(json.dumps(asdict(info), indent=2) + "\n")
    _create_databases(info)
    notes.append(f"sandbox running on 127.0.0.1:{chosen} (pid {server_pid(info)})")
    return info, notes


def _create_databases(info: SandboxInfo) -> None:
    with connection(info.dsn("postgres")) as conn:
        existing = {row["datname"] for row in conn.execute("select datname from pg_database")}
        for name in (DEMO_DB, DAGSTER_DB):
            if name not in existing:
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))


def down(purge: bool = False, timeout_s: float = 30.0, root: Path | None = None) -> list[str]:
    """Stop the sandbox by its PID (fast shutdown); with purge, remove its data too."""
    root = root or home()
    info = load_info(root)
    notes: list[str] = []
    if info is None:
        notes.append("no sandbox here; nothing to stop")
    else:
        pid = server_pid(info)
        if pid is None:
            notes.append("sandbox was not running")
        else:
            os.kill(pid, signal.SIGINT)  # SIGINT = fast shutdown: roll back sessions, checkpoint, exit
            deadline = time.monotonic() + timeout_s
            while process_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if process_alive(pid):
                os.kill(pid, signal.SIGQUIT)
                notes.append(f"sandbox (pid {pid}) did not stop in {timeout_s:.0f} s; sent SIGQUIT")
            else:
                notes.append(f"stopped sandbox (pid {pid})")
    if purge:
        shutil.rmtree(root, ignore_errors=True)
        notes.append(f"removed {root}")
    elif info is not None:
        notes.append(f"data kept in {info.data_dir} (down --purge removes it)")
    return notes


def status() -> str:
    info = load_info()
    if info is None:
        return f"no sandbox (pg-ops sandbox up creates one in {home()})"
    pid = server_pid(info)
    if pid is None:
        return f"sandbox stopped; data kept in {info.data_dir}"
    return (
        f"sandbox running: PostgreSQL on 127.0.0.1:{info.port} (pid {pid}), data in {info.data_dir}, "
        f"log {info.log_file}, databases {DEMO_DB} (demo) and {DAGSTER_DB} (Dagster)"
    )


def monitoring_password(root: Path | None = None) -> str:
    """The sandbox's own generated password for the monitoring role (0600, under the state dir)."""
    path = (root or home()) / "monitoring_password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


def running_info() -> SandboxInfo:
    info = load_info()
    if info is None or server_pid(info) is None:
        raise PgOpsError("the sandbox is not running; start it with: pg-ops sandbox up")
    return info
