"""`make bench`: the performance report. Figures come from measurement on this machine, never from tests.

So far it measures the demo load; the rollout, validation and monitoring issues add their sections.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from pathlib import Path
from typing import Any

from psycopg import sql

from pg_ops import demo, sandbox
from pg_ops.db import connection
from pg_ops.paths import state_dir

BENCH_DB = "bench"


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(memory_gib, 1),
            "os": platform.platform(), "python": platform.python_version()}


def _fresh_database(info: sandbox.SandboxInfo) -> str:
    with connection(info.dsn("postgres")) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(BENCH_DB)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(BENCH_DB)))
    return info.dsn(BENCH_DB)


def run(scale: float, out: Path | None = None) -> dict[str, Any]:
    info, _ = sandbox.up()
    dsn = _fresh_database(info)
    report = demo.load(dsn, scale=scale, seed=42)
    with connection(dsn) as conn:
        row = conn.execute("select pg_database_size(current_database()) as size, version() as version").fetchone()
    assert row is not None
    result = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "server": row["version"],
        "scale": scale,
        "demo_load": {"seconds": round(report.seconds, 1), "goal_seconds": 60,
                      "steps_seconds": {k: round(v, 2) for k, v in report.steps.items()},
                      "rows": report.rows, "database_bytes": int(row["size"])},
    }
    destination = out or state_dir() / "bench" / "bench.json"
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(json.dumps(result, indent=2) + "\n")
    result["written_to"] = str(destination)
    return result


def table(result: dict[str, Any]) -> str:
    load = result["demo_load"]
    m = result["machine"]
    lines = [
        f"pg_ops benchmark, scale {result['scale']:g}, {result['measured_at']}",
        f"machine: {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB; {result['server'].split(',')[0]}",
        "",
        "| figure | measured | goal |",
        "|---|---|---|",
        f"| demo load ({load['rows']['public.orders']:,} orders, {load['rows']['public.order_items']:,} items) "
        f"| {load['seconds']:.1f} s | <= {load['goal_seconds']} s |",
        f"| database size after load | {load['database_bytes'] / 2**20:,.0f} MiB | |",
    ]
    return "\n".join(lines)
