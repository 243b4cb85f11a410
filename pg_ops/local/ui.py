"""`make ui`: `dagster dev` in a process group of its own, stopped whole on Ctrl-C.

Run in the terminal's process group, `dagster dev`'s children (code server, gRPC server, webserver,
daemon) outlived a Ctrl-C: after SIGINT to the group all five were still running 8 s later. Here dagster
runs in its own session; pg-ops catches SIGINT/SIGTERM, sends SIGTERM to that session's group (dagster
dev's clean shutdown), and after a grace period SIGKILLs whatever of the group is left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from pg_ops.engine.errors import PgOpsError

GRACE_S = 3.5  # then SIGKILL: the whole stop stays under 5 s


def group_members(pgid: int) -> list[int]:
    """Every live process whose process group is `pgid` (zombies aside: they hold no port)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def stop_group(pgid: int, grace_s: float = GRACE_S, log: Callable[[str], None] = lambda _: None) -> list[int]:
    """SIGTERM to the group, then SIGKILL to what is left after `grace_s`; the PIDs that needed SIGKILL."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return []
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not group_members(pgid):
            return []
        time.sleep(0.1)
    left = group_members(pgid)
    if left:
        log(f"ui: {len(left)} process(es) still running after {grace_s:g} s; killing them: {left}")
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 2
        while group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)
    return left


def run(workspace: Path, host: str, port: int, env: dict[str, str]) -> int:
    """`dagster dev` until it ends or this process is told to stop; then nothing it started is left."""
    dagster = Path(sys.executable).parent / "dagster"
    if not dagster.is_file():
        raise PgOpsError(f"dagster is not installed next to this Python ({dagster}); run make install")
    process = subprocess.Popen([str(dagster), "dev", "-w", str(workspace), "-h", host, "-p", str(port)],
                               env=env, start_new_session=True, cwd=workspace.parent)
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            print(f"\nui: stopping dagster dev (pid {process.pid}) and everything it started", flush=True)
            stop_group(process.pid, log=print)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        code = process.wait()
        if not stopping and group_members(process.pid):
            stop_group(process.pid, log=print)  # dagster dev ended on its own: its children go too
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0 if stopping else code
