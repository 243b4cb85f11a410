"""Plans as the real role: what a finding's pattern costs, in the words of EXPLAIN.

Each table is planned as the role the finding is about (`authenticated` with a request's JWT claims set as
PostgREST sets them, or `anon`), in a transaction that is rolled back; nothing is executed. A finding about the
application's statement is planned from its pg_stat_statements text as a generic plan (PREPARE with
plan_cache_mode = force_generic_plan: the parameters' values are not known).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import Connection, sql

from pg_ops.engine.lint.rules import Finding

CONDITIONS = ("Filter", "Join Filter", "Index Cond", "Recheck Cond", "Hash Cond", "Merge Cond")
# evidence is about one pattern; a whole plan of a big policy set is not readable in a report
MAX_FRAGMENT = 600
PROBE_USER = str(uuid.UUID(int=0x9_0000_0000_0000_0000_0000_0000_0001))


def _walk(node: dict[str, Any], under_initplan: bool = False) -> Iterator[tuple[dict[str, Any], bool]]:
    once = under_initplan or node.get("Parent Relationship") == "InitPlan"
    yield node, once
    for child in node.get("Plans", ()):
        yield from _walk(child, once)


def _describe(node: dict[str, Any]) -> str:
    head = node["Node Type"]
    if "Relation Name" in node:
        alias = node.get("Alias")
        head += f" on {node['Relation Name']}" + (f" {alias}" if alias and alias != node["Relation Name"] else "")
    if node.get("Subplan Name"):
        head = f"{node['Subplan Name']}: {head}"
    return head


def fragments(plan: dict[str, Any], names: tuple[str, ...], table: str) -> tuple[list[str], list[str]]:
    """(per-row fragments, once-per-query fragments) of a JSON plan that show names; with no names, the
    conditions of the table's own scan."""
    per_row: list[str] = []
    once: list[str] = []
    for node, in_initplan in _walk(plan["Plan"]):
        for key in CONDITIONS:
            value = node.get(key)
            if not value:
                continue
            if names:
                hit = any(name in value for name in names)
            else:
                hit = node.get("Relation Name") == table and node.get("Parent Relationship") not in ("SubPlan",
                                                                                                    "InitPlan")
            if hit:
                text = f"{_describe(node)}, {key}: {value}"
                if len(text) > MAX_FRAGMENT:
                    text = text[:MAX_FRAGMENT] + "..."
                (once if in_initplan else per_row).append(text)
    return per_row, once


def probe(cur: Any, role: str, statement: sql.Composable, prepared_params: int | None = None) -> dict[str, Any]:
    """The JSON plan of a statement as the role, with a request's claims, inside a savepoint (so inside a
    transaction); with prepared_params, a generic plan (PREPARE under force_generic_plan, EXECUTE with NULLs):
    how a pg_stat_statements text is planned when its parameters are unknown."""
    claims = json.dumps({"sub": PROBE_USER, "role": role})
    cur.execute("savepoint pg_ops_probe")
    try:
        cur.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
        cur.execute("select set_config('request.jwt.claims', %s, true), set_config('request.method', 'GET', true)",
                    (claims,))
        if prepared_params is None:
            row = cur.execute(sql.SQL("explain (format json) {}").format(statement)).fetchone()
        else:
            cur.execute("set local plan_cache_mode = force_generic_plan")
            cur.execute(sql.SQL("prepare pg_ops_probe as {}").format(statement))
            nulls = sql.SQL(", ").join([sql.NULL] * prepared_params)
            execute = sql.SQL("execute pg_ops_probe({})").format(nulls) if prepared_params else \
                sql.SQL("execute pg_ops_probe")
            row = cur.execute(sql.SQL("explain (format json) {}").format(execute)).fetchone()
        plan: dict[str, Any] = row["QUERY PLAN"][0]
        return plan
    finally:
        cur.execute("rollback to savepoint pg_ops_probe")
        # PREPARE outlives a rollback: drop it, or the next statement's PREPARE would find the name taken
        if cur.execute("select 1 from pg_catalog.pg_prepared_statements where name = 'pg_ops_probe'").fetchone():
            cur.execute("deallocate pg_ops_probe")


def _table_statement(cur: Any, schema: str, table: str, command: str) -> sql.Composable:
    name = sql.Identifier(schema, table)
    if command == "UPDATE":
        column = cur.execute("select a.attname from pg_catalog.pg_attribute a where a.attrelid = "
                             "pg_catalog.format('%%I.%%I', %s::text, %s::text)::regclass and a.attnum > 0 and "
                             "not a.attisdropped order by a.attnum limit 1", (schema, table)).fetchone()["attname"]
        return sql.SQL("update {} set {} = {}").format(name, sql.Identifier(column), sql.Identifier(column))
    if command == "DELETE":
        return sql.SQL("delete from {}").format(name)
    return sql.SQL("select * from {}").format(name)


def parameter_count(query: str) -> int:
    """The highest $n of a normalized statement."""
    return max((int(n) for n in re.findall(r"\$(\d+)", query)), default=0)


def attach(conn: Connection[Any], found: list[Finding]) -> None:
    """Fill each plan-related finding's evidence: the plan fragment that shows the pattern, or what the plan
    shows instead (once per query, or why it could not be planned)."""
    plans: dict[tuple[str, ...], dict[str, Any] | str] = {}
    with conn.transaction(force_rollback=True), conn.cursor() as cur:
        cur.execute("set transaction read only")
        cur.execute("set local search_path = ''")  # names in the plan print schema-qualified
        for finding in found:
            if finding.table is None:
                continue
            schema, table = finding.table
            if finding.command == "INSERT":
                finding.evidence = ("INSERT's WITH CHECK runs once per inserted row; EXPLAIN does not print it "
                                    "(the per-row cost is the same pattern as in a USING clause)")
                continue
            key = (finding.plan_role, schema, table, finding.command, finding.statement or "")
            if key not in plans:
                try:
                    if finding.statement is not None:
                        # the statement text is the server's own normalized form, not user input
                        statement: sql.Composable = sql.SQL(finding.statement)
                        plans[key] = probe(cur, finding.plan_role, statement, parameter_count(finding.statement))
                    else:
                        plans[key] = probe(cur, finding.plan_role, _table_statement(cur, schema, table,
                                                                                      finding.command))
                except psycopg.Error as exc:
                    plans[key] = str(exc).splitlines()[0]
            plan = plans[key]
            where = f"as {finding.plan_role}, {finding.command}"
            if isinstance(plan, str):
                finding.evidence = f"{where}: could not be planned ({plan})"
                continue
            per_row, once = fragments(plan, finding.plan_names, table)
            finding.details["per_row"] = bool(per_row)
            if per_row:
                finding.evidence = f"{where}: " + " | ".join(per_row[:3])
            elif once:
                finding.evidence = f"{where}: evaluated once per query here (InitPlan): " + " | ".join(once[:2])
            else:
                finding.evidence = f"{where}: the plan does not show it ({plan['Plan']['Node Type']} at the top)"
