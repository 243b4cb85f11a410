"""The application's own queries (the benchmark suite's files) sent through a pooler as the app sends them:
its login role, SET LOCAL ROLE and the JWT claims inside one transaction, no prepared statements."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from pg_ops.engine.db import Target, connection
from pg_ops.engine.pooler.deploy import SmokeLogin
from pg_ops.engine.proof import suite


@dataclass
class Traffic:
    queries: int = 0
    failures: list[str] = field(default_factory=list)
    timings_ms: list[float] = field(default_factory=list)

    def line(self) -> str:
        ordered = sorted(self.timings_ms)
        p95 = ordered[int(0.95 * (len(ordered) - 1))] if ordered else 0.0
        first = f" (first: {self.failures[0]})" if self.failures else ""
        return f"{self.queries} app queries through the pooler, {len(self.failures)} failed, p95 {p95:.1f} ms{first}"


def send(target: Target, host: str, port: int, login: SmokeLogin, users_per_query: int = 3) -> Traffic:
    """Each suite query for a few of its users: parameters drawn directly from the target, the query itself
    through the pooler."""
    traffic = Traffic()
    queries = [q for q in suite.load() if not q.baseline]
    with connection(target, purpose="app traffic parameters") as direct:
        raw = psycopg.RawCursor(direct)
        drawn = {q.name: raw.execute(q.params_sql, ("pg_ops",)).fetchall()[:users_per_query] for q in queries}
    with psycopg.connect(host=host, port=port, dbname=login.database, user=login.user, password=login.password,
                         prepare_threshold=None, connect_timeout=5, application_name="pg_ops app traffic") as app:
        for query in queries:
            for row in drawn[query.name]:
                traffic.queries += 1
                started = time.perf_counter()
                try:
                    _one(app, query, row)
                except psycopg.Error as exc:
                    traffic.failures.append(f"{query.name}: {str(exc).strip().splitlines()[0]}")
                    continue
                traffic.timings_ms.append((time.perf_counter() - started) * 1000)
    return traffic


def _one(app: psycopg.Connection[Any], query: suite.SuiteQuery, row: dict[str, Any]) -> None:
    sub = row.get("sub")
    params = [value for key, value in row.items() if key != "sub"]
    with app.transaction():
        app.execute(sql.SQL("set local role {}").format(sql.Identifier(query.role)))
        app.execute("select set_config('request.jwt.claims', %s, true)",
                    ("" if sub is None else json.dumps({"sub": str(sub), "role": query.role}),))
        raw = psycopg.RawCursor(app)
        for statement, count in zip(query.statements, query.param_counts, strict=True):
            raw.execute(statement, params[:count]).fetchall()
