"""Verdicts on a validation run: targets, plans, the functions' correctness, regressions. No Dagster here."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import pandas as pd
from psycopg import sql

from pg_ops.engine import sqlfiles
from pg_ops.engine.db import Target, connect
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.proof import dashboard_reference, rls_matrix
from pg_ops.engine.proof.benchmark import SuiteRun
from pg_ops.engine.proof.suite import SuiteQuery

SEQ_SCAN_FORBIDDEN = ("orders", "products")  # tables an index was built for: no query may scan them whole


@dataclass(frozen=True)
class Verdict:
    passed: bool
    skipped: str | None  # set when there was nothing to judge: never reported as a pass
    description: str
    rows: list[dict[str, Any]]


def parse_targets(text: str, queries: list[SuiteQuery]) -> dict[str, float]:
    """'driver_orders=2,analytics_dashboard=25' over the files' own target_ms."""
    targets = {q.name: q.target_ms for q in queries if q.target_ms is not None}
    names = {q.name for q in queries}
    for item in (part.strip() for part in text.split(",") if part.strip()):
        name, _, value = item.partition("=")
        name = name.strip()
        if name not in names:
            raise PgOpsError(f"target for unknown query {name!r}; the suite has: {', '.join(sorted(names))}")
        try:
            number = float(value)
        except ValueError:
            raise PgOpsError(f"target for {name} must be a number of milliseconds, got {value.strip()!r}") from None
        if not number > 0 or number == float("inf"):
            raise PgOpsError(f"target for {name} must be a positive number of milliseconds, got {value.strip()}")
        targets[name] = number
    return {k: v for k, v in targets.items() if v is not None}


def targets_met(results: dict[str, dict[str, Any]], targets: dict[str, float]) -> Verdict:
    measured = {name: r for name, r in results.items() if not r["skipped"]}
    if not measured:
        reasons = sorted({str(r["skipped"]) for r in results.values()}) or ["no validation run recorded"]
        return Verdict(False, "; ".join(reasons), "skipped: " + "; ".join(reasons), [])
    rows, misses = [], []
    for name, r in sorted(measured.items()):
        target = targets.get(name)
        ok = target is None or r["p95_ms"] <= target
        rows.append({"query": name, "p95_ms": round(r["p95_ms"], 3), "target_ms": target if target else "none",
                     "met": ok})
        if not ok:
            misses.append(f"{name} p95 {r['p95_ms']:.1f} ms > {target:g} ms")
    return Verdict(not misses, None, "; ".join(misses) or f"all {len(measured)} queries under target", rows)


def plans_use_indexes(results: dict[str, dict[str, Any]], queries: list[SuiteQuery]) -> Verdict:
    rows, problems = [], []
    for query in queries:
        r = results.get(query.name)
        if r is None or r["skipped"]:
            continue
        if r["plan_nodes"] and str(r["plan_nodes"][0]).startswith("plan unavailable"):
            return Verdict(False, r["plan_nodes"][0], "skipped: " + r["plan_nodes"][0], [])
        used, scans = set(r["indexes_used"] or []), set(r["seq_scans"] or [])
        missing = [i for i in query.expect_indexes if not used & set(i.split("|"))]  # a|b: either will do
        forbidden = sorted(scans & set(SEQ_SCAN_FORBIDDEN))
        if missing:
            problems.append(f"{query.name} does not use {', '.join(missing)}")
        if forbidden:
            problems.append(f"{query.name} scans {', '.join(forbidden)} sequentially")
        rows.append({"query": query.name, "expected": ", ".join(query.expect_indexes) or "-",
                     "used": ", ".join(sorted(used)) or "-", "seq_scans": ", ".join(sorted(scans)) or "-",
                     "ok": not missing and not forbidden})
    if not rows:
        return Verdict(False, "nothing measured", "skipped: no query was measured", [])
    return Verdict(not problems, None, "; ".join(problems) or f"all {len(rows)} plans use their indexes", rows)


def no_regression(now: dict[str, dict[str, Any]], before: dict[str, dict[str, Any]], tolerance: float,
                  slack_ms: float) -> Verdict:
    if not before:
        return Verdict(True, None, "no earlier validation run to compare with", [])
    rows, worse = [], []
    for name, r in sorted(now.items()):
        old = before.get(name)
        if r["skipped"] or old is None or old["skipped"]:
            continue
        limit = old["p95_ms"] * (1 + tolerance) + slack_ms
        ok = r["p95_ms"] <= limit
        rows.append({"query": name, "p95_before_ms": round(old["p95_ms"], 3), "p95_now_ms": round(r["p95_ms"], 3),
                     "ok": ok})
        if not ok:
            worse.append(f"{name} p95 {old['p95_ms']:.1f} -> {r['p95_ms']:.1f} ms")
    return Verdict(not worse, None, "; ".join(worse) or f"{len(rows)} queries within {tolerance:.0%} + "
                   f"{slack_ms:g} ms of the last run", rows)


def rls_unchanged(dsn: Target | str) -> Verdict:
    """Who may see and write what is what it was before the RLS rewrite. Reads: every user reads the same
    rows just after the rewrite as just before it, both taken at one snapshot (the rls_policies asset), so
    the application's writes meanwhile cannot make them differ; without that pair, the baseline's reads.
    Writes: allowed, refused or failing as at the baseline (how many rows a write touches is not compared:
    the application's new rows change it)."""
    before = rls_matrix.load(dsn, rls_matrix.BEFORE_REWRITE)
    if before is None:
        return Verdict(False, "no matrix recorded before the rewrite",
                       "skipped: no allow/deny matrix was recorded before the RLS rewrite", [])
    now = rls_matrix.take(dsn)
    reads_before = rls_matrix.load(dsn, rls_matrix.READS_BEFORE)
    reads_after = rls_matrix.load(dsn, rls_matrix.READS_AFTER)
    if reads_before is None or reads_after is None:
        found, how = rls_matrix.differences(before, now), "against the baseline's matrix"
    else:
        def writes(matrix: rls_matrix.Matrix) -> rls_matrix.Matrix:
            return rls_matrix.allow_deny({who: {a: v for a, v in row.items() if not a.startswith("read_")}
                                          for who, row in matrix.items()})
        found = rls_matrix.differences(reads_before, reads_after) + rls_matrix.differences(writes(before), writes(now))
        how = "reads at one snapshot around the rewrite, writes allowed or refused as at the baseline"
    cells = sum(len(v) for v in before.values())
    return Verdict(not found, None, "; ".join(found[:4]) or f"all {cells} cells unchanged ({how})", [])


def dashboard_windows(now: dt.datetime, days: int = 30) -> list[tuple[str, dt.datetime, dt.datetime]]:
    """The windows dashboards ask for: whole UTC days, rolling from this moment, inside one day, across midnight."""
    midnight = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return [(f"whole {days} days", midnight - dt.timedelta(days=days), midnight),
            (f"rolling {days} days", now - dt.timedelta(days=days), now),
            ("rolling 7 days", now - dt.timedelta(days=7), now),
            ("inside one day", midnight - dt.timedelta(hours=20, minutes=13),
             midnight - dt.timedelta(hours=3, minutes=7)),
            ("across midnight", midnight - dt.timedelta(days=1, hours=2, minutes=31),
             midnight - dt.timedelta(days=1) + dt.timedelta(hours=1, minutes=11))]


def functions_match_reference(dsn: Target | str, days: int = 30) -> Verdict:
    """The four functions, called as an admin (platform and one restaurant) and as an owner, over every
    window shape of `dashboard_windows`, against pandas over the raw rows."""
    with connect(dsn, purpose="validation") as conn:
        rows = conn.execute(sql.SQL("select restaurant_id, status, total_amount, created_at, delivered_at, "
                                    "estimated_delivery_at from public.orders")).fetchall()
        admin = conn.execute("select id from public.profiles where role = 'admin' order by id limit 1").fetchone()
        owner = conn.execute(sqlfiles.read("pgops/busiest_restaurant.sql")).fetchone()
        now = conn.execute("select now() as now").fetchone()
    if not rows or admin is None or owner is None or now is None:
        return Verdict(False, "no orders", "skipped: no orders to compare the functions on (empty tables)", [])
    frame = pd.DataFrame(rows)
    cases = [("admin, platform", admin["id"], None, None), ("admin, busiest restaurant", admin["id"], owner["id"],
                                                            owner["id"]),
             ("owner, own restaurant", owner["owner_id"], owner["id"], owner["id"]),
             ("owner, all theirs", owner["owner_id"], None, owner["id"])]
    table, problems = [], []
    for window, start, end in dashboard_windows(now["now"], days):
        for label, user, restaurant_arg, only in cases:
            got = call_functions(dsn, user, start, end, restaurant_arg)
            want = dashboard_reference.metrics(dashboard_reference.window(frame, start, end, only))
            found = dashboard_reference.differences(got, want)
            table.append({"window": window, "case": label,
                          "orders": sum(n for n, _ in want["status_distribution"].values()),
                          "on_time_rate": str(got["on_time_rate"]), "matches": not found})
            problems += [f"{label}, {window}: {d}" for d in found]
    return Verdict(not problems, None, "; ".join(problems[:4]) or f"all {len(table)} cases equal pandas", table)


def call_functions(dsn: Target | str, user: Any, start: dt.datetime, end: dt.datetime,
                   restaurant: Any) -> dict[str, Any]:
    args = {"s": start, "e": end, "r": restaurant}
    with connect(dsn, purpose="validation", autocommit=False) as conn:
        conn.execute("select set_config('request.jwt.claims', %s, true)",
                     (json.dumps({"sub": str(user), "role": "authenticated"}),))
        conn.execute("set local role authenticated")
        one = conn.execute("select public.calculate_on_time_rate(%(s)s, %(e)s, %(r)s) as v", args).fetchone()
        avg = conn.execute("select public.calculate_avg_delivery_time(%(s)s, %(e)s, %(r)s) as v", args).fetchone()
        revenue = conn.execute("select * from public.calculate_revenue_metrics(%(s)s, %(e)s, %(r)s)", args).fetchone()
        dist = conn.execute("select * from public.get_order_status_distribution(%(s)s, %(e)s, %(r)s)", args).fetchall()
        conn.rollback()
    assert one is not None and avg is not None and revenue is not None
    return {"on_time_rate": one["v"], "avg_delivery_minutes": avg["v"], "revenue_total": revenue["total_revenue"],
            "revenue_orders": revenue["order_count"], "avg_order_value": revenue["avg_order_value"],
            "status_distribution": {d["status"]: (d["order_count"], d["percentage"]) for d in dist}}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def comparison(before: dict[str, dict[str, Any]], after: SuiteRun) -> tuple[list[dict[str, Any]], str]:
    """Before and after side by side per query: table rows, and the same as a Markdown table."""
    rows, lines = [], ["| query | p95 before | p95 after | speed-up |", "|---|---|---|---|"]
    for r in after.results:
        old = before.get(r.name)
        b95 = old["p95_ms"] if old and not old["skipped"] else None
        b50 = old["p50_ms"] if old and not old["skipped"] else None
        speed95 = b95 / r.p95 if b95 and r.p95 else None
        speed50 = b50 / r.p50 if b50 and r.p50 else None
        rows.append({"query": r.name, "p50_before_ms": _ms(b50), "p50_after_ms": _ms(r.p50),
                     "p95_before_ms": _ms(b95), "p95_after_ms": _ms(r.p95), "p99_after_ms": _ms(r.p99),
                     "speedup_p50": "-" if speed50 is None else f"{speed50:.1f}x",
                     "speedup_p95": "-" if speed95 is None else f"{speed95:.1f}x",
                     "executions_before_after": f"{old['executions'] if old else '-'} / {r.executions}"})
        lines.append(f"| {r.name} | {_ms(b95)} ms | {_ms(r.p95)} ms | "
                     f"{'-' if speed95 is None else f'{speed95:.0f}x'} |")
    return rows, "\n".join(lines)
