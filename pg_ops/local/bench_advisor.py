"""`make bench`, issue 19's figures: the index advisor on the scale-1.0 demo with 001's driver index and 010's
created_at index withheld (the dashboards' RPCs need the second only inside their functions) and a useless index
planted, under the app's steady writes (pgbench), with its before/after figures."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from psycopg import sql

from pg_ops.engine.advisor import advise
from pg_ops.engine.advisor.candidates import Candidate
from pg_ops.engine.backup import libpq_env
from pg_ops.engine.db import connection

WITHHELD = ("orders_driver_id_created_at_idx", "orders_created_at_idx")
USELESS = Candidate("public", "orders", ("delivery_address",))


def run(dsn: str, load_argv: list[str], work: Path) -> dict[str, Any]:
    """`load_argv`: pgbench writing at a fixed rate for longer than this takes (stopped here)."""
    with connection(dsn) as conn:
        for name in WITHHELD:
            conn.execute(sql.SQL("drop index concurrently if exists {}").format(sql.Identifier("public", name)))
    load = subprocess.Popen(load_argv, env=libpq_env(dsn), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            cwd=work)
    try:
        time.sleep(3)
        advice = advise.run(dsn, advise.Settings(executions=200, budget_s=20, write_window_s=30, planted=(USELESS,)))
    finally:
        load.send_signal(signal.SIGALRM)
        load.wait(timeout=60)
    return {"withheld": list(WITHHELD), "load": "pgbench, 4 clients, 200 transactions/s",
            "candidates": advice.candidates,
            "seconds": round(advice.seconds, 1),
            "estimates": [{"index": e.candidate.label, "for_queries": e.query_labels(), "planted": e.planted,
                           "cost_before": round(e.cost_before, 1), "cost_after": round(e.cost_after, 1)}
                          for e in advice.estimates],
            "decisions": [{"index": d.estimate.candidate.label, "decision": d.decision,
                           "p95_ms_before": d.p95_before, "p95_ms_after": d.p95_after,
                           "write_ms_before": d.write_before, "write_ms_after": d.write_after, "reason": d.reason}
                          for d in advice.decisions]}


def rows(figures: dict[str, Any] | None) -> list[str]:
    if not figures:
        return []
    lines = [f"| index advisor: {figures['candidates']} candidates weighed with HypoPG, the run "
             f"({' and '.join(figures['withheld'])} withheld, a useless index planted) | "
             f"{figures['seconds']:.0f} s | |"]
    for d in figures["decisions"]:
        per_query = "; ".join(f"{q} {b:.2f} -> {d['p95_ms_after'].get(q) or 0:.2f} ms"
                              for q, b in d["p95_ms_before"].items() if b is not None)
        writes = (f"{d['write_ms_before']:.3f} -> {d['write_ms_after']:.3f} ms"
                  if d["write_ms_before"] is not None and d["write_ms_after"] is not None else "not seen")
        lines.append(f"| {d['decision']}: {d['index']} (p95 {per_query}; app writes {writes}) | | |")
    return lines
