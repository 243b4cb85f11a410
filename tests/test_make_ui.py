"""`make ui` as a user runs it: the UI comes up on the sandbox, and Ctrl-C leaves nothing running or listening."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from pg_ops.local import sandbox
from tests.cli import REPO, pg_ops


def descendants(root: int) -> set[int]:
    """`root` and every live process below it (by parent pid), across sessions."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found, frontier = {root} & set(parents), [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                found.add(pid)
                frontier.append(pid)
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def listening_ports(pids: set[int]) -> set[int]:
    """TCP ports in LISTEN state whose socket one of `pids` holds."""
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def listening(port: int) -> bool:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def _as_a_background_job() -> None:
    """What bash does to a job started with `&` from a script: SIGINT and SIGQUIT ignored, inherited by exec.
    dagster dev then ignores SIGINT and SIGTERM alike (it maps one onto the other)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)


@pytest.mark.parametrize("started", ["from a terminal", "in the background by a script"])
def test_ctrl_c_stops_make_ui_and_everything_it_started_within_5_s(started: str) -> None:
    state = tempfile.mkdtemp(prefix="pgops-ui-state.", dir="/tmp")  # the sandbox server runs as postgres
    os.chmod(state, 0o755)
    port = sandbox.free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PG_OPS_DSN", "DAGSTER_HOME")}
    env.update({"PG_OPS_STATE_DIR": state, "UI_PORT": str(port)})
    log = Path(state) / "make-ui.log"
    # Its own session, as a terminal's foreground job is its own process group: Ctrl-C is SIGINT to it.
    make = subprocess.Popen(["make", "--no-print-directory", "ui"], cwd=REPO, env=env, start_new_session=True,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            preexec_fn=_as_a_background_job if started != "from a terminal" else None)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert make.poll() is None, log.read_text()[-3000:]
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "make ui did not answer in 180 s: " + log.read_text()[-2000:]
                time.sleep(0.5)
        time.sleep(3)  # the daemon and the code server finish starting
        started = descendants(make.pid)
        ports = listening_ports(started)
        assert port in ports and len(started) >= 5, (started, ports)

        began = time.monotonic()
        os.killpg(make.pid, signal.SIGINT)  # Ctrl-C; for the background job, what `kill -INT -PGID` sends
        make.wait(15)
        while any(alive(pid) for pid in started) and time.monotonic() - began < 10:
            time.sleep(0.05)
        took = time.monotonic() - began
        left = sorted(pid for pid in started if alive(pid))
        assert not left, f"still running {took:.1f} s after Ctrl-C: {left}"
        assert took < 5, f"everything stopped, but only after {took:.1f} s"
        assert not [p for p in ports if listening(p)], ports
        assert "stopping dagster dev" in log.read_text()
    finally:
        for pid in descendants(make.pid):
            os.kill(pid, signal.SIGKILL)
        pg_ops("sandbox", "down", "--purge", env={"PG_OPS_STATE_DIR": state})
        shutil.rmtree(state, ignore_errors=True)
