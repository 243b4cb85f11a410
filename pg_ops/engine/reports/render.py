"""A report as files: one self-contained HTML page (its plots embedded, readable offline, fit to attach to
an email) and the same plots as PNGs beside it."""

from __future__ import annotations

import base64
import html
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: files only

import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend

from pg_ops.engine.errors import PgOpsError  # noqa: E402
from pg_ops.engine.reports.daily import DailyReport  # noqa: E402

Figure = Any
# Every report page's look: readable in a browser and in a mail client, nothing fetched from anywhere.
STYLE = ("body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
         "table{border-collapse:collapse;font-size:12px;margin:.5em 0 1.5em}"
         "td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}"
         "img{max-width:100%}.none{color:#777}")


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    pngs: dict[str, Path]


def slug(database: str) -> str:
    """user@host:port/db as a folder name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", database).strip("_")


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def plots(report: DailyReport) -> dict[str, bytes]:
    """Each plot the page shows, as PNG bytes; a plot without data is left out (the page says so)."""
    out: dict[str, bytes] = {}
    if report.suite_trend:
        figure, axis = plt.subplots(figsize=(9, 4.5))
        for query, points in sorted(report.suite_trend.items()):
            axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3, label=query)
        axis.set_yscale("log")
        axis.set_ylabel("p95, ms (log)")
        axis.set_title(f"Benchmark suite p95, last 30 days to {report.day}")
        axis.tick_params(axis="x", labelrotation=45, labelsize=7)
        axis.legend(fontsize=6, ncol=2)
        out["suite_p95_30_days"] = _png(figure)
    if report.connections_by_tick:
        figure, axis = plt.subplots(figsize=(9, 3.5))
        times: list[Any] = [row["taken_at"] for row in report.connections_by_tick]
        for state in ("total", "active", "idle_in_transaction"):
            axis.plot(times, [row[state] for row in report.connections_by_tick], label=state)
        axis.set_ylabel("connections")
        axis.set_title(f"Connections over {report.day} (UTC)")
        axis.legend(fontsize=7)
        out["connections"] = _png(figure)
    if report.statements:
        figure, axis = plt.subplots(figsize=(9, 0.35 * len(report.statements) + 1))
        labels = [f"{s['queryid']}: {' '.join(s['query'].split())[:50]}" for s in report.statements][::-1]
        axis.barh(labels, [s["total_ms"] for s in report.statements][::-1])
        axis.set_xlabel("total execution time that day, ms")
        axis.set_title("Top statements")
        axis.tick_params(axis="y", labelsize=6)
        out["top_statements"] = _png(figure)
    if report.size_by_tick:
        figure, axis = plt.subplots(figsize=(9, 3))
        when: list[Any] = [t for t, _ in report.size_by_tick]
        axis.plot(when, [b / 2**20 for _, b in report.size_by_tick])
        axis.set_ylabel("database size, MiB")
        axis.set_title(f"Database size over {report.day} (UTC)")
        out["size_growth"] = _png(figure)
    return out


def table(rows: list[dict[str, Any]], empty: str) -> str:
    if not rows:
        return f"<p class='none'>{html.escape(empty)}</p>"
    columns = list(rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape('' if r.get(c) is None else str(r.get(c)))}</td>"
                                    for c in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _bytes(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:,.1f} MiB"


def page(report: DailyReport, images: dict[str, bytes]) -> str:
    def image(name: str, what: str) -> str:
        if name not in images:
            return f"<p class='none'>No data for {html.escape(what)} that day.</p>"
        return (f"<img alt='{html.escape(what)}' src='data:image/png;base64,"
                f"{base64.b64encode(images[name]).decode()}'>")

    c = report.connections
    title = f"pg_ops daily report: {report.database}, {report.day}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Coverage: {report.ticks:,} of {report.expected_ticks:,} expected snapshots ({100 * report.coverage:.1f} %);
{report.statement_captures} statement capture(s). Cache hit ratio:
{'-' if report.cache_hit_ratio is None else f'{report.cache_hit_ratio:.2f} %'}. Database size
{_bytes(report.database_bytes_end)} (growth {_bytes(report.growth_bytes)}).</p>
<h2>Benchmark suite</h2>{image('suite_p95_30_days', 'the suite p95 trend')}
{table([{'query': q, 'p95_ms': round(v, 2)} for q, v in sorted(report.suite_p95.items())],
        'No validation ran that day.')}
<h2>Statements: the {len(report.statements)} that cost the most time</h2>{image('top_statements', 'statements')}
{table(report.statements, 'No statement capture that day (the sensor captures every statement hourly).')}
<h2>New statements</h2>{table(report.new_statements, 'None.')}
<h2>Statements more than twice as slow as the day before</h2>{table(report.worse_statements, 'None.')}
<h2>Connections</h2>{image('connections', 'connections')}
<p>Peak {c.get('max_total', 0):.0f} (average {c.get('mean_total', 0):.1f}); active peak {c.get('max_active', 0):.0f};
idle in transaction peak {c.get('max_idle_in_transaction', 0):.0f}; waiting on locks peak
{c.get('max_waiting_on_locks', 0):.0f}.</p>
<h2>Size</h2>{image('size_growth', 'the size')}{table(report.largest_tables, 'No table statistics.')}
<h2>Dead tuples and vacuum</h2>{table(report.dead_tuples, 'No dead tuples.')}
<h2>Unused indexes</h2>{table(report.unused_indexes, 'None.')}
<h2>Invalid indexes</h2>{table(report.invalid_indexes, 'None.')}
</body></html>
"""


def write(report: DailyReport, folder: Path) -> ReportFiles:
    """`<folder>/<database>/<day>/report.html` and its PNGs; one line if the folder cannot be written."""
    where = folder / slug(report.database) / report.day.isoformat()
    images = plots(report)
    try:
        where.mkdir(parents=True, exist_ok=True)
        pngs = {}
        for name, data in images.items():
            pngs[name] = where / f"{name}.png"
            pngs[name].write_bytes(data)
        page_path = where / "report.html"
        page_path.write_text(page(report, images), encoding="utf-8")
    except OSError as exc:
        raise PgOpsError(f"cannot write the report into {folder}: {exc.strerror or exc}; choose another folder "
                         "(PG_OPS_REPORTS_DIR, or the asset's config folder)") from None
    return ReportFiles(html=page_path, pngs=pngs)
