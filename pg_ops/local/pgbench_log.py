"""Reading pgbench's per-transaction logs (`-l --log-prefix`), one file per thread."""

from __future__ import annotations

from pathlib import Path


def latencies_us(prefix: Path) -> list[int]:
    """Every transaction's latency in microseconds, sorted (from its scheduled start when pgbench ran with -R)."""
    latencies = []
    for log in prefix.parent.glob(prefix.name + ".*"):
        for line in log.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[2].isdigit():
                latencies.append(int(fields[2]))
    return sorted(latencies)
