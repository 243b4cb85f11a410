"""Proving a rendered PgBouncer configuration on a throwaway candidate before it goes anywhere near the live
pooler: PgBouncer 1.18 has no check flag, so the file boots its own instance on a free loopback port, with
its own socket folder, pidfile and log; SHOW CONFIG must then equal what was rendered. The candidate is
stopped by its PID.
"""

from __future__ import annotations

import os
import pwd
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.pooler.config import Rendered

PGBOUNCER = Path("/usr/sbin/pgbouncer")


@dataclass(frozen=True)
class Running:
    pid: int
    port: int
    directory: Path


def write_files(rendered: Rendered) -> Path:
    """pgbouncer.ini and the auth file into the folder the rendering names; owned by the user PgBouncer
    switches to, when started as root."""
    directory = Path(rendered.values["auth_file"]).parent
    os_user = rendered.values.get("user")
    directory.mkdir(parents=True, exist_ok=True)
    ini = directory / "pgbouncer.ini"
    ini.write_text(rendered.ini)
    auth = Path(rendered.values["auth_file"])
    auth.write_text(rendered.auth_file)
    auth.chmod(0o600)
    if os_user:  # PgBouncer refuses root and switches to this user: it must own its folder and files
        entry = pwd.getpwnam(os_user)
        for path in (directory, ini, auth):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    return ini


def reason(lines: list[str]) -> str:
    """PgBouncer's own words, without its timestamp and pid: the first ERROR (which names the bad line),
    then the FATAL that followed."""
    said = [re.sub(r"^\S+ \S+ \S+ \[\d+\] ", "", line).strip() for line in lines]
    wrong = [line for line in said if line.startswith(("ERROR", "FATAL"))]
    return "; ".join(wrong[:2]) if wrong else (said[-1] if said else "")


def _log_tail(directory: Path) -> str:
    log = directory / "pgbouncer.log"
    lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
    return lines[-1] if lines else "no log line"


@contextmanager
def running(ini: Path, rendered: Rendered, admin_password: str, timeout_s: float = 10.0) -> Iterator[Running]:
    """A PgBouncer on `ini`, up and answering on its admin console; stopped by its PID afterwards."""
    directory = ini.parent
    port = int(rendered.values["listen_port"])
    process = subprocess.Popen([str(PGBOUNCER), str(ini)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                output = (process.stdout.read() if process.stdout else "").strip().splitlines()
                raise PgOpsError(f"the candidate PgBouncer did not start: {reason(output) or _log_tail(directory)}")
            try:
                with admin_console(rendered, admin_password):
                    break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise PgOpsError(f"the candidate PgBouncer did not answer on port {port} within "
                                     f"{timeout_s:g} s: {_log_tail(directory)}") from None
                time.sleep(0.1)
        yield Running(pid=process.pid, port=port, directory=directory)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # safe shutdown: it waits for its clients
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout:
            process.stdout.close()


def console(host: str, port: int, user: str, password: str,
            connect_timeout_s: int = 3) -> psycopg.Connection[tuple[object, ...]]:
    """A PgBouncer's admin console. It speaks only the simple query protocol: a client-side-binding cursor."""
    return psycopg.connect(host=host, port=port, dbname="pgbouncer", user=user, password=password, autocommit=True,
                           cursor_factory=psycopg.ClientCursor, connect_timeout=connect_timeout_s)


def admin_console(rendered: Rendered, admin_password: str) -> psycopg.Connection[tuple[object, ...]]:
    """The console of the PgBouncer running `rendered`."""
    return console(rendered.values["listen_addr"], int(rendered.values["listen_port"]),
                   rendered.values["admin_users"], admin_password)


def show(conn: psycopg.Connection[tuple[object, ...]], what: str) -> list[dict[str, str]]:
    """SHOW POOLS / STATS / CONFIG / DATABASES as rows by column name (columns vary between versions)."""
    if what not in ("CONFIG", "POOLS", "STATS", "DATABASES", "CLIENTS", "SERVERS"):
        raise ValueError(what)
    cursor = conn.execute(f"SHOW {what}")  # a fixed word from the list above
    names = [c.name for c in cursor.description or []]
    return [{name: "" if value is None else str(value) for name, value in zip(names, row, strict=True)}
            for row in cursor.fetchall()]


def running_config(conn: psycopg.Connection[tuple[object, ...]]) -> tuple[dict[str, str], set[str]]:
    """SHOW CONFIG: each key's running value, and the keys a RELOAD cannot change (changeable = no)."""
    rows = show(conn, "CONFIG")
    return ({row["key"]: row["value"] for row in rows},
            {row["key"] for row in rows if row.get("changeable", "yes") == "no"})


def show_config(rendered: Rendered, admin_password: str) -> dict[str, str]:
    with admin_console(rendered, admin_password) as conn:
        return running_config(conn)[0]


def config_differences(rendered: Rendered, shown: dict[str, str]) -> list[str]:
    """Rendered keys whose running value differs (PgBouncer prints some values its own way: seconds as
    integers, empty as '')."""
    problems = []
    for key, want in rendered.values.items():
        got = shown.get(key)
        if got is None:
            problems.append(f"{key} is not a setting PgBouncer knows")
        elif not same_value(got, want):
            problems.append(f"{key} = {got!r}, rendered {want!r}")
    return problems


def same_value(shown: str, wanted: str) -> bool:
    return shown == wanted or (_number(shown) is not None and _number(shown) == _number(wanted))


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class Proof:
    pid: int
    port: int
    shown: dict[str, str]
    said: str = ""  # what `also` reported


def prove(rendered: Rendered, admin_password: str, also: Callable[[Running], str] | None = None) -> Proof:
    """Write the files, boot a candidate on them, require SHOW CONFIG to equal every rendered value, run `also`
    against the running candidate (the smoke queries), stop it. Any failure is one line; nothing here touches
    a live pooler."""
    ini = write_files(rendered)
    with running(ini, rendered, admin_password) as candidate:
        shown = show_config(rendered, admin_password)
        wrong = config_differences(rendered, shown)
        if wrong:
            raise PgOpsError(f"the candidate PgBouncer runs with other values than rendered: {'; '.join(wrong[:3])}")
        said = also(candidate) if also else ""
    return Proof(pid=candidate.pid, port=candidate.port, shown=shown, said=said)
