"""What every asset's metadata shares: the group and owners, and tables built from rows."""

from typing import Any

import dagster as dg

from pg_ops.engine.proof import benchmark

ROLLOUT_GROUP = "rollout"
OWNERS = ["team:pg_ops"]


def table(rows: list[dict[str, Any]]) -> dg.MetadataValue:
    """Rows as a metadata table: numbers and booleans kept, everything else as text, None as empty."""
    columns = list(rows[0]) if rows else ["empty"]
    return dg.MetadataValue.table(
        records=[dg.TableRecord({k: ("" if v is None else v if isinstance(v, (int, float, bool)) else str(v))
                                 for k, v in row.items()}) for row in rows],
        schema=dg.TableSchema(columns=[dg.TableColumn(c, "string") for c in columns]))


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def results_table(run: benchmark.SuiteRun) -> dg.MetadataValue:
    return table([{"query": r.name, "file": r.file, "executions": r.executions, "p50_ms": fmt_ms(r.p50),
                   "p95_ms": fmt_ms(r.p95), "p99_ms": fmt_ms(r.p99),
                   "note": r.skipped or ("time budget hit" if r.budget_hit else "")} for r in run.results])
