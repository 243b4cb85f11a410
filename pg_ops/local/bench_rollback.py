"""`make bench`, issue 15's figures: the whole rollout rolled back and applied again under the app's steady
writes (failed writes, the longest stall), and the restore drill's time as a ratio to the backup's."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from pg_ops.engine import restore
from pg_ops.engine.backup import libpq_env
from pg_ops.engine.migrations import migrate, rollback
from pg_ops.local import pgbench_log


def run(dsn: str, load_argv: list[str], work: Path, backups: Path) -> dict[str, Any]:
    """`load_argv`: pgbench writing at a fixed rate for longer than this takes (stopped here); `backups`: where
    the rollout's verified backup is."""
    prefix = work / "pgbench_rollback"
    for old in work.glob(prefix.name + ".*"):
        old.unlink()
    settings = migrate.Settings.platform()
    load = subprocess.Popen([*load_argv, "-l", f"--log-prefix={prefix}"], env=libpq_env(dsn), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=work)
    try:
        time.sleep(3)  # steady state first
        started = time.perf_counter()
        undone = rollback.rollback(dsn, settings, rollback.ZERO)
        down_s = time.perf_counter() - started
        applied = migrate.apply(dsn, settings)
        round_trip_s = time.perf_counter() - started
        time.sleep(3)
    finally:
        load.send_signal(signal.SIGALRM)  # pgbench's end-of-duration signal: it stops and flushes its log
        output, _ = load.communicate(timeout=60)
    latencies = pgbench_log.latencies_us(prefix)
    failed = re.search(r"number of failed transactions: (\d+)", output)
    drill = restore.rehearse(dsn, backups, jobs=2)
    return {
        "load": "pgbench, 4 clients, 200 transactions/s (insert one order, update another by key)",
        "files_rolled_back": len(undone.undone), "rollback_s": round(down_s, 1),
        "slowest_downs": [[u.label, round(u.duration_ms / 1000, 2)]
                          for u in sorted(undone.undone, key=lambda u: -u.duration_ms)[:3]],
        "rls_matrix": undone.rls_matrix,
        "files_applied_again": len(applied.applied), "round_trip_s": round(round_trip_s, 1),
        "transactions": len(latencies), "failed_transactions": int(failed.group(1)) if failed else None,
        "stalls_over_1s": sum(1 for latency in latencies if latency > 1_000_000),
        "max_write_ms": round(latencies[-1] / 1000, 1) if latencies else None,
        "p99_write_ms": round(latencies[int(len(latencies) * 0.99)] / 1000, 1) if latencies else None,
        "restore": {"backup": drill.backup.name, "backup_s": round(drill.backup_seconds, 1),
                    "dump_s": round(drill.dump_seconds, 1), "restore_s": round(drill.restored.seconds, 1),
                    "restore_over_dump": round(drill.ratio, 2),
                    "jobs": 2, "checks": {c.name: c.passed for c in drill.restored.checks}},
    }


def rows(figures: dict[str, Any] | None) -> list[str]:
    if not figures:
        return []
    drill = figures["restore"]
    return [
        f"| the whole rollout rolled back under write load ({figures['files_rolled_back']} files) "
        f"| {figures['rollback_s']:.1f} s | |",
        f"| round trip: rolled back, then applied again ({figures['files_applied_again']} files) "
        f"| {figures['round_trip_s']:.1f} s | |",
        f"| failed writes during the round trip ({figures['transactions']:,} transactions) "
        f"| {figures['failed_transactions']} | 0 |",
        f"| writes stalled > 1 s during the round trip | {figures['stalls_over_1s']} "
        f"(max {figures['max_write_ms']} ms, p99 {figures['p99_write_ms']} ms) | 0 |",
        f"| restore drill: pg_restore ({drill['jobs']} jobs) / pg_dump of the newest backup "
        f"| {drill['restore_s']:.1f} s / {drill['dump_s']:.1f} s = {drill['restore_over_dump']:.2f}x "
        f"(checks: {', '.join(k for k, ok in drill['checks'].items() if ok) or 'none'} passed) | |",
        f"| the whole backup beside it: row counts, pg_dump, the RLS matrix's reads at its snapshot "
        f"| {drill['backup_s']:.1f} s | |",
    ]
