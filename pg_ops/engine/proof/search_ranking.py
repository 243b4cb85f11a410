"""Proof that search_products returns the true top matches: for terms of every search class in the suite,
its results equal the same ranking computed in plain SQL over all matches, with every index turned off.

With RUM many products share a score (a word that appears once in half the catalog scores the same
everywhere), and the index hands out equal scores in its own order; so the proof compares the list of
scores, and that each returned product is a match with exactly the score returned. The GIN path breaks
ties by product id, so there the ids themselves must be equal, in order.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg

from pg_ops.engine import sqlfiles
from pg_ops.engine.db import Target, connect
from pg_ops.engine.proof.suite import SuiteQuery
from pg_ops.engine.proof.verdicts import Verdict

SEARCH_FUNCTION = "search_products"
LIMIT = 20


def search_classes(queries: list[SuiteQuery]) -> list[SuiteQuery]:
    return [q for q in queries if any(SEARCH_FUNCTION in s for s in q.statements)]


def _terms(dsn: Target | str, query: SuiteQuery, seed: str, per_class: int) -> list[str]:
    with connect(dsn, purpose="validation") as conn:
        rows = psycopg.RawCursor(conn).execute(query.params_sql, (seed,)).fetchall()
    return [str(next(v for k, v in row.items() if k != "sub")) for row in rows[:per_class]]


def compare(dsn: Target | str, term: str, role: str = "authenticated") -> list[str]:
    """What differs between the function's top LIMIT for `term` and the plain-SQL ranking of all matches."""
    with connect(dsn, purpose="validation", autocommit=False) as conn:
        found = conn.execute("select private.search_ranked_by_rum() as rum, private.search_query(%s)::text as query",
                             (term,)).fetchone()
        assert found is not None
        mode = "rum" if found["rum"] else "gin"
        conn.execute("set local enable_indexscan = off")
        conn.execute("set local enable_bitmapscan = off")
        every = conn.execute(sqlfiles.read(f"pgops/search_ranking_{mode}.sql"), {"query": found["query"]}).fetchall()
        conn.execute("reset enable_indexscan")
        conn.execute("reset enable_bitmapscan")
        conn.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps({"role": role}),))
        conn.execute("select set_config('role', %s, true)", (role,))
        got = conn.execute("select id, rank from public.search_products(%s, %s)", (term, LIMIT)).fetchall()
        conn.rollback()
    return differences(got, every, mode)


def differences(got: list[dict[str, Any]], every: list[dict[str, Any]], mode: str) -> list[str]:
    want = every[:LIMIT]
    if mode == "gin":
        same = [r["id"] for r in got] == [r["id"] for r in want]
        return [] if same else [f"{len(got)} products returned, not the plain-SQL top {len(want)} in order"]
    problems = []
    if [r["rank"] for r in got] != [r["rank"] for r in want]:
        problems.append(f"scores {[r['rank'] for r in got][:3]}... != {[r['rank'] for r in want][:3]}...")
    score = {r["id"]: r["rank"] for r in every}
    wrong = [r["id"] for r in got if score.get(r["id"]) != r["rank"]]
    if wrong:
        problems.append(f"{len(wrong)} returned products are not matches with the score returned")
    if len({r["id"] for r in got}) != len(got):
        problems.append("a product is returned twice")
    return problems


def verify(dsn: Target | str, queries: list[SuiteQuery], seed: str = "pg_ops", per_class: int = 3) -> Verdict:
    rows, problems = [], []
    for query in search_classes(queries):
        for term in _terms(dsn, query, seed, per_class):
            found = compare(dsn, term, query.role)
            rows.append({"class": query.name, "term": term, "matches": not found})
            problems += [f"{query.name} '{term}': {p}" for p in found]
    if not rows:
        return Verdict(False, "no search terms", "skipped: no search class drew a term (empty catalog?)", [])
    return Verdict(not problems, None, "; ".join(problems[:3]) or f"all {len(rows)} searches equal the plain-SQL "
                   "ranking", rows)
