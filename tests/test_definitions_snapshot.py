"""The code location as a reviewer sees it: assets, checks (and whether they block), jobs, schedules and
sensors, compared with tests/definitions_snapshot.json. A change to the graph shows in review as a diff
of that file; after a deliberate change: PG_OPS_UPDATE_SNAPSHOT=1 pytest tests/test_definitions_snapshot.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg

SNAPSHOT = Path(__file__).with_name("definitions_snapshot.json")


def describe(definitions: dg.Definitions) -> dict[str, Any]:
    graph = definitions.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name, "deps": sorted(p.to_user_string() for p in node.parent_keys),
            "pools": sorted(node.pools or []), "kinds": sorted(node.kinds), "partitioned": node.is_partitioned}
    checks = {f"{k.asset_key.to_user_string()}.{k.name}": {"blocking": graph.get(k).blocking}
              for k in sorted(graph.asset_check_keys, key=lambda k: (k.asset_key.to_user_string(), k.name))}
    jobs = {}
    for job in sorted(definitions.resolve_all_job_defs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue
        jobs[job.name] = {"assets": sorted(k.to_user_string() for k in job.asset_layer.executable_asset_keys),
                          "tags": sorted(job.tags)}
    schedules = {s.name: {"cron": s.cron_schedule, "timezone": s.execution_timezone, "job": s.job_name,
                          "default_status": s.default_status.value}
                 for s in sorted(definitions.schedules or [], key=lambda s: s.name)}  # type: ignore[union-attr]
    sensors = {s.name: {"minimum_interval_seconds": s.minimum_interval_seconds,
                        "default_status": s.default_status.value}
               for s in sorted(definitions.sensors or [], key=lambda s: s.name)}  # type: ignore[union-attr]
    return {"assets": assets, "checks": checks, "jobs": jobs, "schedules": schedules, "sensors": sensors}


def test_the_definitions_are_what_was_reviewed() -> None:
    # Loaded afresh without PG_OPS_* settings (the cron, the sensor interval): the shipped defaults are reviewed.
    loaded = subprocess.run([sys.executable, "-c", "import json; from pg_ops.definitions import defs; "
                             "from tests.test_definitions_snapshot import describe; "
                             "print(json.dumps(describe(defs), indent=2, sort_keys=True))"],
                            env={k: v for k, v in os.environ.items() if not k.startswith("PG_OPS_")},
                            cwd=SNAPSHOT.parent.parent, capture_output=True, text=True, check=True)
    current = loaded.stdout
    if os.environ.get("PG_OPS_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(current)
    assert SNAPSHOT.read_text() == current, (
        "the code location changed; review the difference, then PG_OPS_UPDATE_SNAPSHOT=1 pytest "
        "tests/test_definitions_snapshot.py")
