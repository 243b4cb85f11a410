"""Running the benchmark suite as the application does: each query as its real user through row-level
security, as prepared statements, warmed up, then timed; plus one plan per query from auto_explain.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pglast
import psycopg
from pglast import ast, visitors
from psycopg import sql
from psycopg.types.json import Jsonb

from pg_ops.engine import sqlfiles
from pg_ops.engine.db import Connection, Target, connect
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.proof import dashboard_reference
from pg_ops.engine.proof.suite import SuiteQuery

Log = Callable[[str], None]
_AUTO_EXPLAIN_ON = {"auto_explain.log_min_duration": "0", "auto_explain.log_analyze": "on",
                    "auto_explain.log_buffers": "on", "auto_explain.log_format": "json",
                    "auto_explain.log_nested_statements": "on", "auto_explain.log_level": "notice",
                    "client_min_messages": "notice"}


@dataclass
class QueryResult:
    name: str
    file: str
    executions: int = 0
    budget_hit: bool = False
    timings_ms: list[float] = field(default_factory=list, repr=False)
    skipped: str | None = None
    plans: list[dict[str, Any]] = field(default_factory=list, repr=False)
    plan_nodes: list[str] = field(default_factory=list)
    indexes_used: list[str] = field(default_factory=list)
    seq_scans: list[str] = field(default_factory=list)
    expect_indexes: tuple[str, ...] = ()
    target_ms: float | None = None

    def percentile(self, q: float) -> float | None:
        if not self.timings_ms:
            return None
        ordered = sorted(self.timings_ms)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    @property
    def p50(self) -> float | None:
        return self.percentile(0.50)

    @property
    def p95(self) -> float | None:
        return self.percentile(0.95)

    @property
    def p99(self) -> float | None:
        return self.percentile(0.99)


@dataclass
class SuiteRun:
    run_id: str
    phase: str
    results: list[QueryResult]

    def by_name(self) -> dict[str, QueryResult]:
        return {r.name: r for r in self.results}


class _Tables(visitors.Visitor):
    def __init__(self) -> None:
        self.names: set[tuple[str | None, str]] = set()
        self.ctes: set[str] = set()

    def visit_RangeVar(self, ancestors: object, node: ast.RangeVar) -> None:
        self.names.add((node.schemaname, str(node.relname)))

    def visit_CommonTableExpr(self, ancestors: object, node: ast.CommonTableExpr) -> None:
        self.ctes.add(str(node.ctename))


def _tables(queries: list[SuiteQuery]) -> list[str]:
    found = _Tables()
    for query in queries:
        for statement in (query.params_sql, *query.statements):
            found(pglast.parse_sql(statement))
    return sorted(f"{schema or 'public'}.{name}" for schema, name in found.names
                  if schema is not None or name not in found.ctes)


def require_schema(conn: Connection, queries: list[SuiteQuery]) -> None:
    missing = [t for t in _tables(queries)
               if conn.execute("select to_regclass(%s) is null as missing", (t,)).fetchone() == {"missing": True}]
    if missing:
        raise PgOpsError(f"the benchmark suite needs tables this database does not have: {', '.join(missing)} "
                         "(is this the delivery platform? pg-ops demo load creates it in the sandbox)")


def _require_role(conn: Connection, query: SuiteQuery) -> None:
    if conn.execute("select 1 from pg_roles where rolname = %s", (query.role,)).fetchone() is None:
        raise PgOpsError(f"suite file {query.path.name}: role '{query.role}' does not exist in the target database")


def _claims(sub: Any, role: str) -> str:
    return "" if sub is None else json.dumps({"sub": str(sub), "role": role})


def _plan_summary(plans: list[dict[str, Any]]) -> tuple[list[str], list[str], list[str]]:
    nodes: list[str] = []
    indexes: list[str] = []
    seq_scans: list[str] = []

    def walk(node: dict[str, Any], depth: int) -> None:
        label = node["Node Type"]
        if "Index Name" in node:
            label += f" using {node['Index Name']}"
            indexes.append(node["Index Name"])
        if "Relation Name" in node:
            label += f" on {node['Relation Name']}"
            if node["Node Type"] == "Seq Scan":
                seq_scans.append(node["Relation Name"])
        nodes.append("  " * depth + label)
        for child in node.get("Plans", []):
            walk(child, depth + 1)

    for plan in plans:
        walk(plan["Plan"], 0)
    return nodes[:40], sorted(set(indexes)), sorted(set(seq_scans))


def _set_all(conn: Connection, settings: dict[str, str]) -> None:
    for name, value in settings.items():
        conn.execute("select set_config(%s, %s, false)", (name, value))


def run_query(dsn: Target | str, query: SuiteQuery, seed: str, executions: int, warmup: int, budget_s: float,
              purpose: str = "benchmark") -> QueryResult:
    result = QueryResult(name=query.name, file=query.path.name, expect_indexes=query.expect_indexes,
                         target_ms=query.target_ms)
    with connect(dsn, purpose=purpose) as conn:
        _require_role(conn, query)
        raw = psycopg.RawCursor(conn)
        try:
            params = raw.execute(query.params_sql, (seed,)).fetchall()
        except psycopg.Error as exc:
            raise PgOpsError(f"suite file {query.path.name}: its parameters query failed: "
                             f"{str(exc).strip().splitlines()[0]}") from None
        if not params:
            result.skipped = "no rows to draw parameters from (empty tables)"
            return result
        try:
            conn.execute("load 'auto_explain'")
            plans_available = True
        except psycopg.errors.InsufficientPrivilege:
            plans_available = False

        def sample(row: dict[str, Any]) -> float:
            conn.execute("select set_config('request.jwt.claims', %s, false)", (_claims(row.get("sub"), query.role),))
            values = [v for k, v in row.items() if k != "sub"]
            started = time.perf_counter()
            rows: list[Any] = []
            for statement, count in zip(query.statements, query.param_counts, strict=True):
                rows = raw.execute(statement, values[:count], prepare=True).fetchall()
            if query.client == "pandas_dashboard":
                dashboard_reference.metrics(rows)
            return (time.perf_counter() - started) * 1000

        conn.execute(sql.SQL("set role {}").format(sql.Identifier(query.role)))
        try:
            for i in range(warmup):  # past the plan cache's five custom plans
                sample(params[i % len(params)])
            deadline = time.perf_counter() + budget_s
            for i in range(executions):
                if i > 0 and time.perf_counter() > deadline:
                    result.budget_hit = True
                    break
                result.timings_ms.append(sample(params[i % len(params)]))
            result.executions = len(result.timings_ms)
            if plans_available:
                notices: list[str] = []
                conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
                conn.execute("reset role")
                _set_all(conn, _AUTO_EXPLAIN_ON)
                conn.execute(sql.SQL("set role {}").format(sql.Identifier(query.role)))
                sample(params[0])
                conn.execute("reset role")
                _set_all(conn, {"auto_explain.log_min_duration": "-1", "client_min_messages": "warning"})
                for notice in notices:
                    if "{" in notice:
                        plan = json.loads(notice[notice.index("{"):])
                        if "set_config(" not in plan.get("Query Text", ""):
                            result.plans.append(plan)
                result.plan_nodes, result.indexes_used, result.seq_scans = _plan_summary(result.plans)
            else:
                result.plan_nodes = ["plan unavailable: loading auto_explain needs a superuser"]
        except psycopg.Error as exc:
            raise PgOpsError(f"suite file {query.path.name} failed as {query.role}: "
                             f"{str(exc).strip().splitlines()[0]}") from None
    return result


def run_suite(dsn: Target | str, queries: list[SuiteQuery], phase: str, seed: str = "pg_ops", executions: int = 200,
              warmup: int = 6, budget_s: float = 10.0, log: Log = lambda _: None) -> SuiteRun:
    with connect(dsn, purpose="benchmark") as conn:
        require_schema(conn, queries)
    run = SuiteRun(run_id=str(uuid.uuid4()), phase=phase, results=[])
    for query in queries:
        result = run_query(dsn, query, seed, executions, warmup, budget_s)
        run.results.append(result)
        if result.skipped:
            log(f"{phase} {query.name}: skipped, {result.skipped}")
        else:
            log(f"{phase} {query.name} ({query.path.name}): p50 {result.p50:.2f} ms, p95 {result.p95:.2f} ms over "
                f"{result.executions} executions{' (time budget hit)' if result.budget_hit else ''}")
    return run


def save(dsn: Target | str, run: SuiteRun) -> None:
    with connect(dsn, purpose="benchmark", autocommit=False) as conn:
        conn.execute(sqlfiles.read("pgops/benchmark_runs.sql"))
        for r in run.results:
            conn.execute(
                sqlfiles.read("pgops/benchmark_run_insert.sql"),
                (run.run_id, run.phase, r.name, r.file, r.executions, r.budget_hit, r.p50, r.p95, r.p99,
                 sum(r.timings_ms) / len(r.timings_ms) if r.timings_ms else None,
                 min(r.timings_ms, default=None), max(r.timings_ms, default=None), r.skipped, r.plan_nodes,
                 r.indexes_used, r.seq_scans, Jsonb(r.plans)))
        conn.commit()


def latest(dsn: Target | str, phase: str, before_run: str | None = None) -> dict[str, dict[str, Any]]:
    """The most recent run of a phase: query -> its row (without the plan)."""
    with connect(dsn, purpose="benchmark") as conn:
        exists = conn.execute("select to_regclass('pgops.benchmark_runs') is not null as ok").fetchone()
        if not (exists and exists["ok"]):
            return {}
        row = conn.execute(sqlfiles.read("pgops/benchmark_latest_run.sql"), (phase, before_run or "")).fetchone()
        if row is None:
            return {}
        rows = conn.execute(sqlfiles.read("pgops/benchmark_run_results.sql"), (row["run_id"],)).fetchall()
    return {r["query"]: r for r in rows}
