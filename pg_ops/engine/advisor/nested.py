"""The statements inside the functions the app calls: what `select public.calculate_revenue_metrics($1, $2, $3)`
really runs, down through the functions those call.

A dashboard's RPC reads its tables in statements that neither the suite's text nor pg_stat_statements (with
its default `track = top`) shows. Each is taken from the function's parse tree (pglast, PL/pgSQL included) with
every parameter and variable turned into a typed `$n`, which is how PL/pgSQL hands them to the planner; the
advisor plans them generically (their values depend on the body's control flow), as the role they run as: the
owner of a SECURITY DEFINER function, otherwise the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pglast

from pg_ops.engine import sqlfiles
from pg_ops.engine.db import Connection
from pg_ops.engine.lint import sql_tree

MAX_DEPTH = 4  # calls followed from the app's statement: RPC -> helper -> helper -> helper


@dataclass(frozen=True)
class NestedStatement:
    function: str  # schema.name of the function whose body holds it
    text: str  # variables as typed parameters: `o.created_at >= CAST($1 AS timestamptz)`
    role: str | None  # the definer's owner; None: the role of the app's statement


def _variables(row: dict[str, Any]) -> dict[str, str]:
    """Name (or "$n") -> type of every parameter, and for PL/pgSQL every declared scalar variable."""
    types: dict[str, str] = {f"${i}": t for i, t in enumerate(row["arg_types"], start=1)}
    types.update({name: t for name, t in zip(row["arg_names"], row["arg_types"], strict=False) if name})
    if row["language"] == "plpgsql":
        try:
            parsed = pglast.parse_plpgsql(row["definition"])
        except pglast.parser.ParseError:
            return types
        for datum in parsed[0]["PLpgSQL_function"].get("datums", ()):
            var = datum.get("PLpgSQL_var") if isinstance(datum, dict) else None
            typname = var and var.get("datatype", {}).get("PLpgSQL_type", {}).get("typname")
            if var and typname and var.get("refname"):
                types.setdefault(str(var["refname"]), str(typname))
    return types


class Functions:
    """The SQL and PL/pgSQL functions of one database, each looked up and parsed once per advisor run."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.found: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.bodies: dict[int, tuple[list[Any], dict[str, str]]] = {}  # oid -> (statements, variable types)

    def _lookup(self, schema: str, name: str, nargs: int) -> dict[str, Any] | None:
        if (schema, name) not in self.found:
            self.found[(schema, name)] = self.conn.execute(sqlfiles.read("pgops/function_source.sql"),
                                                           {"schema": schema, "name": name}).fetchall()
        return next((f for f in self.found[(schema, name)] if f["nargs"] - f["defaults"] <= nargs <= f["nargs"]),
                    None)

    def _body(self, function: dict[str, Any]) -> tuple[list[Any], dict[str, str]]:
        if function["oid"] not in self.bodies:
            try:
                body = sql_tree.body_statements(function["language"], function["source"],
                                                function["definition"] or "")
            except pglast.parser.ParseError:
                body = []
            self.bodies[function["oid"]] = (body, _variables(function))
        return self.bodies[function["oid"]]

    def _follow(self, tree: Any, role: str | None, depth: int, seen: set[int]) -> list[NestedStatement]:
        found: list[NestedStatement] = []
        if depth > MAX_DEPTH:
            return found
        for call in sql_tree.calls(tree):
            function = self._lookup(call.schema or "public", call.name, call.nargs)
            if function is None or function["oid"] in seen:
                continue
            seen.add(function["oid"])
            runs_as = function["owner"] if function["definer"] else role
            label = f"{function['schema']}.{function['name']}"
            body, types = self._body(function)
            for statement in body:
                if any(schema != "pg_catalog" for schema, _ in sql_tree.relations(statement)):
                    text = sql_tree.parameterize(statement, types)
                    if text is not None:
                        found.append(NestedStatement(label, text, runs_as))
                found += self._follow(statement, runs_as, depth + 1, seen)
        return found

    def statements(self, statement: str) -> list[NestedStatement]:
        """The statements that read tables inside the SQL and PL/pgSQL functions a statement calls, followed
        MAX_DEPTH calls deep, each function once."""
        try:
            trees = [raw.stmt for raw in pglast.parse_sql(statement) if raw.stmt is not None]
        except pglast.parser.ParseError:
            return []
        seen: set[int] = set()
        return [found for tree in trees for found in self._follow(tree, None, 1, seen)]
