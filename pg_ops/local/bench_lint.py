"""`make bench`, issue 17's figures: pg-ops lint on the demo before the rollout, and on a scratch database with
1,000 tables and 2,000 policies (half of them with a bare auth.uid()) on the same server."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from pg_ops.engine import sqlfiles
from pg_ops.engine.db import connection
from pg_ops.engine.lint import linter
from pg_ops.local import sandbox

MANY_DB = "pgops_bench_lint"
TABLES = 1000


def _many(info: sandbox.SandboxInfo) -> str:
    with connection(info.dsn("postgres")) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(MANY_DB)))
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(MANY_DB)))
    dsn = info.dsn(MANY_DB)
    with connection(dsn) as conn:
        conn.execute(sqlfiles.read("demo/00_supabase_base.sql"))
        conn.execute("create table public.owners (id uuid primary key)")
        conn.execute("alter table public.owners enable row level security")
        with conn.transaction():
            for i in range(TABLES):
                table = sql.Identifier("public", f"item_{i}")
                conn.execute(sql.SQL("create table {} (id bigint primary key, owner_id uuid references public.owners, "
                                     "body text)").format(table))
                conn.execute(sql.SQL("alter table {} enable row level security").format(table))
                conn.execute(sql.SQL("grant select, update on {} to authenticated").format(table))
                slow = sql.SQL("auth.uid()") if i % 2 else sql.SQL("(select auth.uid())")
                conn.execute(sql.SQL("create policy {} on {} for select to authenticated using (owner_id = {})"
                                     ).format(sql.Identifier(f"read_{i}"), table, slow))
                conn.execute(sql.SQL("create policy {} on {} for update to authenticated using (owner_id = {})"
                                     ).format(sql.Identifier(f"write_{i}"), table, slow))
    return dsn


def run(info: sandbox.SandboxInfo, demo_dsn: str) -> dict[str, Any]:
    demo = linter.run(demo_dsn)
    many_dsn = _many(info)
    try:
        many = linter.run(many_dsn)
        catalog_only = linter.run(many_dsn, with_evidence=False)
    finally:
        with connection(info.dsn("postgres")) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(MANY_DB)))
    return {"demo": {"seconds": round(demo.seconds, 3), "findings": len(demo.findings),
                     "with_evidence": sum(1 for f in demo.findings if f.evidence), "goal_seconds": 1},
            "many": {"tables": TABLES, "policies": 2 * TABLES, "seconds": round(many.seconds, 2),
                     "catalog_only_seconds": round(catalog_only.seconds, 2), "findings": len(many.findings),
                     "with_evidence": sum(1 for f in many.findings if f.evidence), "goal_seconds": 5}}


def rows(figures: dict[str, Any] | None) -> list[str]:
    if not figures:
        return []
    demo, many = figures["demo"], figures["many"]
    return [
        f"| pg-ops lint of the demo before the rollout ({demo['findings']} findings, {demo['with_evidence']} with "
        f"their plan) | {demo['seconds']:.2f} s | < 1 s |",
        f"| pg-ops lint of {many['tables']:,} tables with {many['policies']:,} policies ({many['findings']:,} "
        f"findings, {many['with_evidence']:,} with their plan) / without the plans | {many['seconds']:.2f} s / "
        f"{many['catalog_only_seconds']:.2f} s | < 5 s |",
    ]
