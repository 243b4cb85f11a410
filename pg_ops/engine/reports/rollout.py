"""The rollout report: the page a DBA sends the team the morning after. Before and after per query, p95 as a
bar chart, the indexes added with their sizes, each step's duration, and the verdicts."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pg_ops.engine import sqlfiles
from pg_ops.engine.db import Target, connection
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.migrations import migrate
from pg_ops.engine.proof import benchmark, suite
from pg_ops.engine.reports import render


@dataclass
class RolloutReport:
    database: str
    queries: list[dict[str, Any]] = field(default_factory=list)
    indexes: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def targets_met(self) -> int:
        return sum(1 for q in self.queries if q["target_met"])


def build(target: Target) -> RolloutReport:
    before, after = benchmark.latest(target, "baseline"), benchmark.latest(target, "validation")
    if not after:
        raise PgOpsError(f"no validation of {target.label} is recorded: materialize validation first")
    files = {q.name: q for q in suite.load()}
    report = RolloutReport(database=target.label)
    for name, now in sorted(after.items()):
        then = before.get(name, {})
        goal = files[name].target_ms if name in files else None
        p95_before, p95_after = then.get("p95_ms"), now.get("p95_ms")
        report.queries.append({
            "query": name, "p95_before_ms": _round(p95_before), "p95_after_ms": _round(p95_after),
            "speedup": _round(p95_before / p95_after if p95_before and p95_after else None, 1),
            "target_ms": goal, "target_met": bool(goal and p95_after is not None and p95_after <= goal),
            "indexes_used": ", ".join(now.get("indexes_used") or [])})
    names = [b.qualified_name for f in migrate.all_files(migrate.Settings.platform()) for b in f.index_builds]
    with connection(target, purpose="rollout report") as conn:
        report.indexes = [dict(r) for r in conn.execute(sqlfiles.read("reports/index_sizes.sql"),
                                                          {"names": names}).fetchall()]
        report.steps = [{**dict(r), "duration_s": round(int(r["duration_ms"]) / 1000, 2)}
                        for r in conn.execute(sqlfiles.read("reports/rollout_steps.sql")).fetchall()]
    return report


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(float(value), digits)


def chart(report: RolloutReport) -> bytes:
    import matplotlib.pyplot as plt  # render chose the Agg backend on import

    measured = [q for q in report.queries if q["p95_before_ms"] and q["p95_after_ms"]]
    figure, axis = plt.subplots(figsize=(9, 0.32 * len(measured) + 1.5))
    positions = range(len(measured))
    axis.barh([p + 0.2 for p in positions], [q["p95_before_ms"] for q in measured], height=0.4, label="before")
    axis.barh([p - 0.2 for p in positions], [q["p95_after_ms"] for q in measured], height=0.4, label="after")
    axis.set_yticks(list(positions), [q["query"] for q in measured], fontsize=7)
    axis.set_xscale("log")
    axis.set_xlabel("p95, ms (log scale)")
    axis.set_title("Benchmark suite p95 before and after the rollout")
    axis.legend()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def write(report: RolloutReport, folder: Path) -> Path:
    png = chart(report)
    where = folder / render.slug(report.database) / "rollout"
    title = f"pg_ops rollout report: {report.database}"
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{render.STYLE}</style></head><body><h1>{html.escape(title)}</h1>
<p>{report.targets_met} of {len(report.queries)} queries meet their p95 target after the rollout.</p>
<img alt="p95 before and after" src="data:image/png;base64,{base64.b64encode(png).decode()}">
<h2>Before and after</h2>{render.table(report.queries, "No measurement.")}
<h2>Indexes added</h2>{render.table(report.indexes, "No index.")}
<h2>Steps</h2>{render.table(report.steps, "No step recorded in the ledger.")}
</body></html>
"""
    try:
        where.mkdir(parents=True, exist_ok=True)
        (where / "p95_before_after.png").write_bytes(png)
        (where / "report.html").write_text(page, encoding="utf-8")
    except OSError as exc:
        raise PgOpsError(f"cannot write the rollout report into {folder}: {exc.strerror or exc}; choose another "
                         "folder (PG_OPS_REPORTS_DIR)") from None
    return where / "report.html"
