"""Index advice that is proven before it is kept.

Candidates come from the benchmark suite's statements (what the app sends) and the statements inside the
functions they call (nested.py); HypoPG weighs each one by the plan cost of those statements as the real role
(row-level security's quals exist only then), with the first row of each query's own parameters (a function's
statement: a generic plan). The few that cut a query's estimated cost by at least
`min_estimated_gain` are built concurrently, one at a time; the queries each was meant for are measured
before and after (p95), and so are the application's writes to its table (their mean time in
pg_stat_statements over a window: the app's own writes, never synthetic ones). An index is kept only if
every query it was meant for got faster by `margin` and the writes did not get slower than `write_limit`;
otherwise it is dropped concurrently. Every decision, with its figures, goes to pgops.index_advice.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pglast
import psycopg
from pglast import ast
from psycopg import sql
from psycopg.types.json import Jsonb

from pg_ops.engine import sqlfiles
from pg_ops.engine.advisor import nested
from pg_ops.engine.advisor.candidates import Candidate, TableName, generate
from pg_ops.engine.advisor.nested import NestedStatement
from pg_ops.engine.db import Connection, Target, connect
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.lint import evidence, linter, sql_tree
from pg_ops.engine.migrations import advisory_lock, index_lifecycle
from pg_ops.engine.migrations.migration_files import IndexBuild
from pg_ops.engine.proof import benchmark, suite
from pg_ops.engine.proof.suite import SuiteQuery

Log = Callable[[str], None]
PREFIX = "pgops_advised_"


@dataclass(frozen=True)
class Settings:
    margin: float = 0.2  # each query the index was meant for: p95 after <= p95 before * (1 - margin)
    # and at least this much faster: a sub-millisecond p95 moves by 2x between two measurements on a busy
    # server, and an index that saves less than this is not worth its cost on every write
    min_gain_ms: float = 0.5
    write_limit: float = 1.5  # the app's writes to the table: mean after <= mean before * limit + slack
    write_slack_ms: float = 0.2
    # a query an index is meant for only inside a function may not get slower than p95 * (1 + margin) + this:
    # a 2 ms dashboard's p95 moves by more than 20% under the app's own load
    query_slack_ms: float = 1.0
    min_estimated_gain: float = 0.5  # dexter's rule: build only what cuts a query's plan cost by half
    max_indexes: int = 3
    executions: int = 100
    budget_s: float = 10.0
    write_window_s: float = 30.0
    planted: tuple[Candidate, ...] = ()  # candidates given to the run (a test's useless one), built and judged
    plan_only: bool = False

    def __post_init__(self) -> None:
        """A setting out of range is one line before anything is read or built."""
        checks = [(0 < self.margin < 1, f"margin must be between 0 and 1 (0.2 = 20% faster), got {self.margin:g}"),
                  (0 <= self.min_gain_ms <= 60_000, f"min_gain_ms must be from 0 to 60000, got "
                                                    f"{self.min_gain_ms:g}"),
                  (self.write_limit >= 1, f"write_limit must be at least 1 (1.5 = writes at most 1.5x slower), got "
                                          f"{self.write_limit:g}"),
                  (0 < self.min_estimated_gain < 1, "min_estimated_gain must be between 0 and 1, got "
                                                    f"{self.min_estimated_gain:g}"),
                  (1 <= self.max_indexes <= 10, f"max_indexes must be from 1 to 10, got {self.max_indexes}"),
                  (5 <= self.executions <= 10_000, f"executions must be from 5 to 10000, got {self.executions}"),
                  (0 <= self.write_window_s <= 3600, f"write_window_s must be from 0 to 3600, got "
                                                     f"{self.write_window_s:g}")]
        for ok, message in checks:
            if not ok:
                raise PgOpsError(f"index advisor: {message}")


@dataclass
class Estimate:
    candidate: Candidate
    for_queries: list[str]
    cost_before: float
    cost_after: float
    planted: bool = False
    # found for a statement of pg_stat_statements outside the suite: pg_ops cannot time it, so it is listed and
    # never built (advice that is not proven is not acted on)
    measurable: bool = True
    # the queries it is meant for only through a statement inside a function they call (query -> function):
    # that statement may not run for the suite's parameters, so those queries must not get slower rather than
    # faster (see _judge)
    inside: dict[str, str] = field(default_factory=dict)

    @property
    def gain(self) -> float:
        return 1 - self.cost_after / self.cost_before if self.cost_before else 0.0

    def query_labels(self) -> list[str]:
        return [f"{q} (inside {self.inside[q]})" if q in self.inside else q for q in self.for_queries]


@dataclass
class Decision:
    estimate: Estimate
    p95_before: dict[str, float | None]
    p95_after: dict[str, float | None] = field(default_factory=dict)
    write_before: float | None = None
    write_after: float | None = None
    # measured again after the index was dropped, for queries that looked slower with it (see _try)
    p95_without: dict[str, float | None] = field(default_factory=dict)
    decision: str = "failed"
    reason: str = ""

    def record(self, run_id: str) -> dict[str, Any]:
        e = self.estimate
        return {"run_id": run_id, "index_name": e.candidate.name, "definition": e.candidate.label,
                "planted": e.planted, "for_queries": e.for_queries, "inside_functions": Jsonb(e.inside),
                "estimated_cost_before": e.cost_before,
                "estimated_cost_after": e.cost_after, "p95_ms_before": Jsonb(self.p95_before),
                "p95_ms_after": Jsonb(self.p95_after) if self.p95_after else None,
                "p95_ms_without": Jsonb(self.p95_without) if self.p95_without else None,
                "write_ms_before": self.write_before, "write_ms_after": self.write_after,
                "decision": self.decision, "reason": self.reason}


@dataclass
class Advice:
    run_id: str
    candidates: int
    estimates: list[Estimate]
    decisions: list[Decision]
    seconds: float
    notes: list[str]

    def lines(self) -> list[str]:
        found = [e for e in self.estimates if not e.planted and e.measurable]
        out = [f"{len(found)} of {self.candidates} candidates cut a query's estimated cost enough to be built:"]
        out += [f"  {e.candidate.label}: cost {e.cost_before:,.1f} -> {e.cost_after:,.1f} ({e.gain:.0%}) for "
                f"{', '.join(e.query_labels())}{' (planted)' if e.planted else ''}"
                f"{'' if e.measurable else ' (estimated only: not in the suite, so not built)'}"
                for e in self.estimates]
        for d in self.decisions:
            out.append(f"{d.decision:8} {d.estimate.candidate.name}: {d.reason}")
        out += [f"note: {n}" for n in self.notes]
        return out


# ---- the workload and its estimated costs ----

def _statement_tables(statement: str) -> set[TableName]:
    try:
        trees = [raw.stmt for raw in pglast.parse_sql(statement) if raw.stmt is not None]
    except pglast.parser.ParseError:
        return set()
    return {(schema or "public", name) for tree in trees for schema, name in sql_tree.relations(tree)}


def _tables(queries: list[SuiteQuery]) -> set[TableName]:
    return set().union(*(_statement_tables(statement) for q in queries for statement in q.statements))


def _catalog(conn: Connection, tables: set[TableName]) -> tuple[dict[TableName, set[str]],
                                                                 dict[TableName, list[tuple[str, ...]]]]:
    names = [f"{s}.{t}" for s, t in sorted(tables)]
    columns: dict[TableName, set[str]] = {}
    for r in conn.execute(sqlfiles.read("pgops/table_columns.sql"), {"tables": names}).fetchall():
        columns.setdefault((r["schema"], r["table_name"]), set()).add(r["column_name"])
    existing: dict[TableName, list[tuple[str, ...]]] = {}
    for r in conn.execute(sqlfiles.read("pgops/table_index_keys.sql"), {"tables": names}).fetchall():
        existing.setdefault((r["schema"], r["table_name"]), []).append(tuple(r["key_columns"]))
    return columns, existing


def _plan_cost(conn: Connection, query: SuiteQuery, values: list[Any], sub: Any) -> float:
    """The query's statements planned as its role with its first parameters: the sum of their costs."""
    raw = psycopg.RawCursor(conn)
    claims = "" if sub is None else json.dumps({"sub": str(sub), "role": query.role})
    conn.execute("select set_config('request.jwt.claims', %s, false)", (claims,))
    conn.execute(sql.SQL("set role {}").format(sql.Identifier(query.role)))
    try:
        total = 0.0
        for statement, count in zip(query.statements, query.param_counts, strict=True):
            row = raw.execute(f"explain (format json) {statement}", values[:count]).fetchone()
            assert row is not None
            plan = row[0] if not isinstance(row, dict) else row["QUERY PLAN"]
            total += float(plan[0]["Plan"]["Total Cost"])
        return total
    finally:
        conn.execute("reset role")


def _first_parameters(conn: Connection, query: SuiteQuery) -> tuple[list[Any], Any] | None:
    rows = psycopg.RawCursor(conn).execute(query.params_sql, ("pg_ops",)).fetchall()
    if not rows:
        return None
    row = rows[0]
    return [v for k, v in row.items() if k != "sub"], row.get("sub")


def _weigh(conn: Connection, hypopg: str, candidates: list[Candidate], cost: Callable[[], float]
           ) -> list[tuple[float, Candidate]]:
    """(cost with the candidate, candidate) for each candidate as a hypothetical index (HypoPG: nothing is built)."""
    options = []
    for candidate in candidates:
        conn.execute(sql.SQL("select {}.hypopg_create_index(%s)").format(sql.Identifier(hypopg)),
                     (candidate.statement(concurrently=False).as_string(conn),))
        try:
            options.append((cost(), candidate))
        except psycopg.Error:
            continue
        finally:
            conn.execute(sql.SQL("select {}.hypopg_reset()").format(sql.Identifier(hypopg)))
    return options


def estimate(conn: Connection, queries: list[SuiteQuery], candidates: list[Candidate], hypopg: str,
             min_gain: float, planted: tuple[Candidate, ...] = (),
             inner: dict[str, list[NestedStatement]] | None = None) -> list[Estimate]:
    """Each query's plan cost without and with each candidate on one of its tables; per query the best candidate
    that cuts its cost by min_gain; the planted ones whatever they do. Then the same for each statement inside
    the functions the query calls (inner), planned generically as the role it runs as."""
    best: dict[Candidate, Estimate] = {}
    planted_estimates: dict[Candidate, Estimate] = {p: Estimate(p, [], 0.0, 0.0, planted=True) for p in planted}

    def choose(query: str, before: float, options: list[tuple[float, Candidate]], inside: str | None) -> None:
        if not options or not before:
            return
        after, chosen = min(options, key=lambda o: (o[0], len(o[1].columns)))
        if 1 - after / before < min_gain:
            return
        e = best.setdefault(chosen, Estimate(chosen, [], 0.0, 0.0))
        if query not in e.for_queries:
            e.for_queries.append(query)
            if inside is not None:
                e.inside[query] = inside
        elif inside is None:
            e.inside.pop(query, None)  # the query's own statement wants it too
        e.cost_before, e.cost_after = e.cost_before + before, e.cost_after + after

    for query in queries:
        params = _first_parameters(conn, query)
        if params is None:
            continue
        tables = _tables([query])
        try:
            before = _plan_cost(conn, query, *params)
        except psycopg.Error:
            continue  # a statement this database cannot plan (a function it lacks): not advised on
        for planted_one in planted:
            if (planted_one.schema, planted_one.table) in tables:
                for after, _ in _weigh(conn, hypopg, [planted_one], partial(_plan_cost, conn, query, *params)):
                    e = planted_estimates[planted_one]
                    e.for_queries.append(query.name)
                    e.cost_before, e.cost_after = e.cost_before + before, e.cost_after + after
        mine = [c for c in candidates if (c.schema, c.table) in tables]
        choose(query.name, before, _weigh(conn, hypopg, mine, partial(_plan_cost, conn, query, *params)), None)
        for nested_statement in (inner or {}).get(query.name, []):
            role = nested_statement.role or query.role
            tables = _statement_tables(nested_statement.text)
            try:
                before = _generic_cost(conn, nested_statement.text, role)
            except psycopg.Error:
                continue
            mine = [c for c in candidates if (c.schema, c.table) in tables]
            options = _weigh(conn, hypopg, mine, partial(_generic_cost, conn, nested_statement.text, role))
            choose(query.name, before, options, nested_statement.function)
    ranked = sorted(best.values(), key=lambda e: e.cost_after - e.cost_before)
    return ranked + [e for e in planted_estimates.values() if e.for_queries]


def _generic_cost(conn: Connection, statement: str, role: str) -> float:
    """A pg_stat_statements statement's generic plan cost as the role that sent it (its parameters unknown),
    planned as the linter's evidence plans it."""
    # the statement is the server's own normalized text, not user input
    with conn.transaction(force_rollback=True), conn.cursor() as cur:
        plan = evidence.probe(cur, role, sql.SQL(statement),
                              evidence.parameter_count(statement))
    return float(plan["Plan"]["Total Cost"])


def app_statements(conn: Connection, limit: int = 100) -> list[tuple[str, str]]:
    """(statement, role) of the app's SELECTs in pg_stat_statements, busiest first, pg_ops' own replays left out."""
    row = conn.execute(sqlfiles.read("pgops/extension_schema.sql")).fetchone()
    if row is None:
        return []
    query = sqlfiles.read("lint/statements.sql").format(pgss=sql.Identifier(row["schema"], "pg_stat_statements"))
    replays = linter.pg_ops_replays()
    found = []
    for r in conn.execute(query, {"limit": limit}).fetchall():
        try:
            trees = [raw.stmt for raw in pglast.parse_sql(r["query"]) if raw.stmt is not None]
            replayed = pglast.fingerprint(r["query"]) in replays
        except pglast.parser.ParseError:
            continue
        if len(trees) == 1 and isinstance(trees[0], ast.SelectStmt) and not replayed:
            found.append((r["query"], r["role"]))
    return found


def estimate_statements(conn: Connection, statements: list[tuple[str, str]], hypopg: str, min_gain: float,
                        known: set[Candidate], functions: nested.Functions) -> list[Estimate]:
    """The same weighing for the app's statements outside the suite, and the statements inside the functions they
    call: listed, never built."""
    units: list[tuple[str, str, str]] = []  # (statement, role it runs as, label)
    for statement, role in statements:
        label = " ".join(statement.split())[:80]
        units.append((statement, role, label))
        units += [(n.text, n.role or role, f"{label} (inside {n.function})")
                  for n in _unique(functions.statements(statement))]
    tables = set().union(*(_statement_tables(text) for text, _, _ in units))
    columns, existing = _catalog(conn, tables)
    found: dict[Candidate, Estimate] = {}
    for text, role, label in units:
        try:
            before = _generic_cost(conn, text, role)
        except psycopg.Error:
            continue
        mine = [c for c in generate([text], columns, existing) if c not in known]
        options = _weigh(conn, hypopg, mine, partial(_generic_cost, conn, text, role))
        if not options:
            continue
        after, chosen = min(options, key=lambda o: (o[0], len(o[1].columns)))
        if before and 1 - after / before >= min_gain:
            e = found.setdefault(chosen, Estimate(chosen, [], 0.0, 0.0, measurable=False))
            e.for_queries.append(label)
            e.cost_before, e.cost_after = e.cost_before + before, e.cost_after + after
    return sorted(found.values(), key=lambda e: e.cost_after - e.cost_before)


# ---- measuring what an index does ----

def _write_mean(conn: Connection, table: TableName, window_s: float) -> float | None:
    """Mean milliseconds of the app's INSERT/UPDATE/DELETE on the table over the window (pg_stat_statements
    deltas), or None when it saw no write."""
    row = conn.execute(sqlfiles.read("pgops/extension_schema.sql")).fetchone()
    if row is None:
        return None
    query = sqlfiles.read("pgops/write_statements.sql").format(
        pgss=sql.Identifier(row["schema"], "pg_stat_statements"))

    def snapshot() -> dict[Any, tuple[int, float]]:
        taken = {}
        for r in conn.execute(query).fetchall():
            try:
                trees = [raw.stmt for raw in pglast.parse_sql(r["query"]) if raw.stmt is not None]
            except pglast.parser.ParseError:
                continue
            names = {(s or "public", n) for tree in trees for s, n in sql_tree.relations(tree)}
            if table in names:
                taken[r["queryid"]] = (r["calls"], r["total_exec_time"])
        return taken

    first = snapshot()
    time.sleep(window_s)
    second = snapshot()
    calls = sum(c - first.get(q, (0, 0.0))[0] for q, (c, _) in second.items())
    total = sum(t - first.get(q, (0, 0.0))[1] for q, (_, t) in second.items())
    return total / calls if calls > 0 else None


def _p95s(target: Target | str, queries: list[SuiteQuery], settings: Settings, phase: str) -> dict[str, float | None]:
    run = benchmark.run_suite(target, queries, phase, executions=settings.executions, warmup=3,
                              budget_s=settings.budget_s)
    return {r.name: r.p95 for r in run.results}


def _slower_inside(d: Decision, settings: Settings, baseline: dict[str, float | None] | None = None) -> list[str]:
    """The queries the index is meant for only inside a function whose p95 with it is over the baseline's (before
    it was built, unless given) by more than margin and query_slack_ms."""
    baseline = d.p95_before if baseline is None else baseline
    slower = []
    for q in d.estimate.for_queries:
        if q not in d.estimate.inside:
            continue
        was, now = baseline.get(q), d.p95_after.get(q)
        if was is None or now is None or now > was * (1 + settings.margin) + settings.query_slack_ms:
            slower.append(q)
    return slower


def _faster(d: Decision, settings: Settings, baseline: dict[str, float | None] | None = None) -> list[str]:
    """The queries whose p95 with the index is margin and min_gain_ms under the baseline's (before it was built,
    unless given)."""
    baseline = d.p95_before if baseline is None else baseline
    return [q for q in d.estimate.for_queries if (was := baseline.get(q)) is not None
            and (now := d.p95_after.get(q)) is not None and now <= was * (1 - settings.margin)
            and was - now >= settings.min_gain_ms]


def _judge(d: Decision, settings: Settings) -> tuple[str, str]:
    """Kept when every query the index was meant for got `margin` and min_gain_ms faster (p95), except those it is
    meant for only inside a function: one of the queries must get faster and those may not get slower beyond
    margin and query_slack_ms; and the app's writes stayed within the limit."""
    e = d.estimate
    faster = _faster(d, settings)
    not_faster = [q for q in e.for_queries if q not in faster]
    figures = ", ".join(f"{q} p95 {d.p95_before.get(q) or 0:.2f} -> {d.p95_after.get(q) or 0:.2f} ms"
                        for q in e.for_queries)
    if d.write_before is not None and d.write_after is not None:
        writes = f"the app's writes {d.write_before:.3f} -> {d.write_after:.3f} ms"
        too_slow = d.write_after > d.write_before * settings.write_limit + settings.write_slack_ms
    else:
        writes, too_slow = "no application writes to the table during the windows", False
    direct_not_faster = [q for q in not_faster if q not in e.inside]
    if direct_not_faster or not faster:
        return "dropped", (f"{figures}: {', '.join(direct_not_faster or not_faster)} not {settings.margin:.0%} "
                           f"and {settings.min_gain_ms:g} ms faster; {writes}")
    if too_slow:
        return "dropped", f"{figures}; but {writes}, over {settings.write_limit:g}x + {settings.write_slack_ms} ms"
    slower = _slower_inside(d, settings)
    if slower:
        return "dropped", (f"{figures}: {', '.join(slower)} more than {settings.margin:.0%} + "
                           f"{settings.query_slack_ms:g} ms slower; {writes}")
    return "kept", f"{figures}; {writes}"


def _to_confirm(d: Decision, settings: Settings) -> list[str]:
    """The queries whose slowdown alone drops the index: each is meant for it only inside a function, where the
    statement it would serve may not even run, so the slowdown may be the server's drift rather than the index."""
    if _judge(d, settings)[0] == "kept":
        return []
    if _judge(d, dataclasses.replace(settings, query_slack_ms=math.inf))[0] != "kept":
        return []
    return _slower_inside(d, settings)


def _gains_to_confirm(d: Decision, settings: Settings) -> list[str]:
    """The faster queries of a kept index that serves no query directly: a gain seen only through functions, on
    queries a few milliseconds long, is as likely the server's drift as the index's."""
    if _judge(d, settings)[0] != "kept" or any(q not in d.estimate.inside for q in d.estimate.for_queries):
        return []
    return _faster(d, settings)


def _drifted(d: Decision, settings: Settings, suspects: list[str]) -> bool:
    """Whether the suspects, measured again once the index was dropped (p95_without), are as slow as with it."""
    return not [q for q in _slower_inside(d, settings, baseline=d.p95_without) if q in suspects]


def _drop(target: Target | str, candidate: Candidate) -> None:
    with connect(target, purpose="advise") as conn:
        conn.execute(sql.SQL("drop index concurrently if exists {}").format(
            sql.Identifier(candidate.schema, candidate.name)))


def _one(conn: Connection, query: str) -> Any:
    row = conn.execute(query).fetchone()
    assert row is not None
    return row["v"]


def _leftovers(conn: Connection) -> list[tuple[str, str]]:
    """pgops_advised_* indexes no run kept: what an interrupted run left behind."""
    if _one(conn, "select to_regclass('pgops.index_advice') is null as v"):
        kept: set[str] = set()
    else:
        kept = {r["index_name"] for r in conn.execute(sqlfiles.read("pgops/index_advice_kept.sql")).fetchall()
                if r["decision"] == "kept"}
    rows = conn.execute("select n.nspname as schema, c.relname as name from pg_catalog.pg_class c "
                        "join pg_catalog.pg_namespace n on n.oid = c.relnamespace "
                        "where c.relkind = 'i' and starts_with(c.relname, %s)", (PREFIX,)).fetchall()
    return [(r["schema"], r["name"]) for r in rows if r["name"] not in kept]


def run(target: Target | str, settings: Settings | None = None, log: Log = lambda _: None) -> Advice:
    settings = settings or Settings()
    started = time.perf_counter()
    run_id = str(uuid.uuid4())
    queries = suite.load()
    notes: list[str] = []
    with connect(target, purpose="advise") as conn:
        benchmark.require_schema(conn, queries)
        if not settings.plan_only:
            conn.execute(sqlfiles.read("pgops/index_advice.sql"))
        for schema, name in _leftovers(conn):
            if settings.plan_only:
                notes.append(f"{schema}.{name} was built by an advisor run that did not finish; a run without "
                             "--plan drops it")
                continue
            log(f"dropping {schema}.{name}: built by an advisor run that did not finish")
            conn.execute(sql.SQL("drop index concurrently if exists {}").format(sql.Identifier(schema, name)))
        had_hypopg = conn.execute("select 1 from pg_extension where extname = 'hypopg'").fetchone() is not None
        try:
            conn.execute("create extension if not exists hypopg with schema extensions"
                         if _one(conn, "select to_regnamespace('extensions') is not null as v")
                         else "create extension if not exists hypopg")
        except psycopg.Error as exc:
            raise PgOpsError(f"HypoPG is not available on this server ({str(exc).strip().splitlines()[0]}): "
                             "install postgresql-15-hypopg (apt) and run again") from None
        hypopg = str(_one(conn, "select extnamespace::regnamespace::text as v from pg_extension "
                                "where extname = 'hypopg'"))
        try:
            functions = nested.Functions(conn)
            inner = {q.name: _unique([n for s in q.statements for n in functions.statements(s)]) for q in queries}
            inner_texts = [n.text for found in inner.values() for n in found]
            tables = _tables(queries).union(*(_statement_tables(text) for text in inner_texts))
            columns, existing = _catalog(conn, tables)
            candidates = generate([s for q in queries for s in q.statements] + inner_texts, columns, existing)
            estimates = estimate(conn, queries, candidates, hypopg, settings.min_estimated_gain, settings.planted,
                                 inner)
            estimates += estimate_statements(conn, app_statements(conn), hypopg, settings.min_estimated_gain,
                                             {e.candidate for e in estimates}, functions)
        finally:
            if not had_hypopg:
                conn.execute("drop extension if exists hypopg")
    found = [e for e in estimates if not e.planted and e.measurable][:settings.max_indexes]
    chosen = found + [e for e in estimates if e.planted]
    log(f"{len(candidates)} candidates; {len(found)} cut a query's estimated cost by "
        f"{settings.min_estimated_gain:.0%} or more")
    decisions: list[Decision] = []
    if not settings.plan_only:
        with advisory_lock.runner_lock(target, wait_s=5.0, log=log):
            for e in chosen:
                decision = _try(target, e, [q for q in queries if q.name in e.for_queries], settings, log)
                # recorded at once: a kept index the ledger does not know is what the next run drops
                with connect(target, purpose="advise") as conn:
                    conn.execute(sqlfiles.read("pgops/index_advice_insert.sql"), decision.record(run_id))
                decisions.append(decision)
    listed = chosen + [e for e in estimates if not e.measurable]
    return Advice(run_id, len(candidates), listed, decisions, time.perf_counter() - started, notes)


def _unique(statements: list[NestedStatement]) -> list[NestedStatement]:
    return list(dict.fromkeys(statements))


def _measure_without(target: Target | str, candidate: Candidate, d: Decision, queries: list[SuiteQuery],
                     names: list[str], settings: Settings) -> str:
    """The index dropped and the named queries measured again (d.p95_without); their figures as text."""
    _drop(target, candidate)
    d.p95_without = _p95s(target, [q for q in queries if q.name in names], settings, "advice_without")
    return ", ".join(f"{q} {d.p95_without.get(q) or 0:.2f} ms" for q in names)


def _try(target: Target | str, e: Estimate, queries: list[SuiteQuery], settings: Settings, log: Log) -> Decision:
    candidate = e.candidate
    table = (candidate.schema, candidate.table)
    d = Decision(e, _p95s(target, queries, settings, "advice_before"))
    with connect(target, purpose="advise") as conn:
        d.write_before = _write_mean(conn, table, settings.write_window_s)
        build = IndexBuild(candidate.schema, candidate.table, candidate.name, True,
                           candidate.statement().as_string(conn))
    try:
        index_lifecycle.ensure_index(target, build, log, purpose="advise")
        d.p95_after = _p95s(target, queries, settings, "advice_after")
        with connect(target, purpose="advise") as conn:
            d.write_after = _write_mean(conn, table, settings.write_window_s)
        d.decision, d.reason = _judge(d, settings)
        suspects = _to_confirm(d, settings)
        gains = _gains_to_confirm(d, settings)
        if gains:
            # the same second look for a gain: still faster than without the index, or the server's drift
            without = _measure_without(target, candidate, d, queries, gains, settings)
            confirmed = [q for q in _faster(d, settings, baseline=d.p95_without) if q in gains]
            if confirmed:
                log(f"{', '.join(confirmed)} slower again without {candidate.name} ({without}): rebuilding it")
                index_lifecycle.ensure_index(target, build, log, purpose="advise")
                d.reason += f"; measured again without the index: {without}: the index's gain (rebuilt)"
            else:
                d.decision = "dropped"
                d.reason += (f"; but measured again without the index, as fast ({without}): the server's drift, "
                             "not the index")
        elif suspects:
            # before, with, without: a slowdown that stays once the index is gone was the server's, not the index's
            without = _measure_without(target, candidate, d, queries, suspects, settings)
            if not _drifted(d, settings, suspects):
                d.reason += f"; measured again without the index: {without}"
            else:
                log(f"{', '.join(suspects)} as slow without {candidate.name} ({without}): rebuilding it")
                index_lifecycle.ensure_index(target, build, log, purpose="advise")
                d.decision = "kept"
                d.reason = (_judge(d, dataclasses.replace(settings, query_slack_ms=math.inf))[1]
                            + f"; {', '.join(suspects)} as slow without the index ({without}): the server's "
                            "drift, not the index (rebuilt)")
    except (PgOpsError, psycopg.Error) as exc:
        d.decision, d.reason = "failed", str(exc).strip().splitlines()[0]
    if d.decision != "kept":
        _drop(target, candidate)
    log(f"{d.decision} {candidate.name}: {d.reason}")
    return d
