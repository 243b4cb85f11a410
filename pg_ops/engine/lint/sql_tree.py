"""What a policy's qual or a function's body does, read from pglast's parse tree rather than its text.

Quals come from pg_get_expr under an empty search_path, so every function outside pg_catalog is
schema-qualified however the policy was written (`uid()` with `auth` on the path included); names are
resolved through pg_proc by the rules, never matched as text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pglast
from pglast import ast
from pglast.enums import SubLinkType
from pglast.stream import RawStream


@dataclass(frozen=True)
class Call:
    """A function call in an expression: its name as written (schema, name), arguments and position."""

    schema: str | None
    name: str
    nargs: int
    # directly the value of a FROM-less scalar subquery: `(select auth.uid())`, evaluated once per query
    wrapped: bool
    # an argument reads a column of the row (so the call cannot become an InitPlan as it is)
    reads_columns: bool
    # inside any subquery of the expression (the call runs per row of that subquery's tables)
    in_subquery: bool


@dataclass(frozen=True)
class Operator:
    """An operator in a WHERE clause: `@@`, `~~*` (ILIKE), `=`..."""

    name: str


def parse_expression(text: str) -> ast.Node:
    """An expression as pg_get_expr prints it, parsed as the WHERE clause of `select 1`."""
    stmt = pglast.parse_sql(f"select 1 where {text}")[0].stmt
    assert isinstance(stmt, ast.SelectStmt) and stmt.whereClause is not None
    return stmt.whereClause


def deparse(node: ast.Node) -> str:
    return str(RawStream()(node))


def _children(node: Any) -> Iterator[Any]:
    if isinstance(node, (list, tuple)):
        yield from node
    elif isinstance(node, ast.Node):
        for field in node:
            value = getattr(node, field)
            if isinstance(value, (ast.Node, list, tuple)):
                yield value


def nodes(tree: Any) -> Iterator[ast.Node]:
    """Every node under tree, tree included, depth first."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Node):
            yield node
        stack.extend(reversed(list(_children(node))))


def _is_scalar_select(sublink: ast.SubLink) -> bool:
    sub = sublink.subselect
    return (sublink.subLinkType == SubLinkType.EXPR_SUBLINK and isinstance(sub, ast.SelectStmt)
            and not sub.fromClause and not sub.whereClause and sub.targetList is not None
            and len(sub.targetList) == 1)


def _funcname(call: ast.FuncCall) -> tuple[str | None, str]:
    parts = [str(p.sval) for p in call.funcname or ()]
    return (parts[-2] if len(parts) > 1 else None), parts[-1]


def calls(tree: Any) -> list[Call]:
    """Every function call under tree, with whether it is wrapped as the value of a scalar `(select ...)`."""
    found: list[Call] = []

    def visit(node: Any, wrapped: bool, in_subquery: bool) -> None:
        if isinstance(node, ast.SubLink):
            scalar = _is_scalar_select(node)
            if scalar:
                assert isinstance(node.subselect, ast.SelectStmt) and node.subselect.targetList
                value = node.subselect.targetList[0].val
                visit(value, True, in_subquery)
            else:
                visit(node.testexpr, False, in_subquery)
                visit(node.subselect, False, True)
            return
        if isinstance(node, ast.FuncCall):
            schema, name = _funcname(node)
            args = node.args or ()
            found.append(Call(schema, name, len(args), wrapped,
                              any(isinstance(n, ast.ColumnRef) for n in nodes(list(args))), in_subquery))
            for arg in args:
                visit(arg, False, in_subquery)
            return
        if isinstance(node, ast.TypeCast) and wrapped:
            # (select auth.uid()::text) is still evaluated once
            visit(node.arg, True, in_subquery)
            return
        for child in _children(node):
            visit(child, False, in_subquery)

    visit(tree, False, False)
    return found


def correlated_subqueries(tree: Any, table: str) -> list[str]:
    """The subqueries of a policy qual that read a column of the policy's own table (`products.restaurant_id`
    inside `exists (select ... from restaurants r where ...)`): run once per row unless the planner can hash
    them. The subquery's own FROM may name the same table under that name; those references are not outer."""
    found = []
    for node in nodes(tree):
        if not isinstance(node, ast.SubLink) or not isinstance(node.subselect, ast.SelectStmt):
            continue
        inner_names = {r.alias.aliasname if r.alias else r.relname
                       for r in nodes(node.subselect.fromClause or ()) if isinstance(r, ast.RangeVar)}
        if table in inner_names:
            continue
        for ref in nodes(node.subselect):
            fields = ref.fields or () if isinstance(ref, ast.ColumnRef) else ()
            if len(fields) >= 2 and isinstance(fields[0], ast.String) and fields[0].sval == table:
                found.append(deparse(node))
                break
    return found


def wrap_calls(text: str, should_wrap: Callable[[Call], bool]) -> str:
    """The expression with every call should_wrap accepts turned into `(select call)`: Supabase's rewrite that
    makes the planner evaluate it once per query (an InitPlan) instead of once per row."""
    tree = parse_expression(text)

    def rewrite(node: Any, wrapped: bool) -> Any:
        if isinstance(node, ast.SubLink) and _is_scalar_select(node):
            return node  # already evaluated once
        if isinstance(node, ast.FuncCall):
            schema, name = _funcname(node)
            args = node.args or ()
            call = Call(schema, name, len(args), wrapped,
                        any(isinstance(n, ast.ColumnRef) for n in nodes(list(args))), False)
            if should_wrap(call):
                return ast.SubLink(subLinkType=SubLinkType.EXPR_SUBLINK, subLinkId=0,
                                   subselect=ast.SelectStmt(targetList=(ast.ResTarget(val=node),)))
            return node
        if isinstance(node, ast.Node):
            for field in node:
                value = getattr(node, field)
                if isinstance(value, ast.Node):
                    setattr(node, field, rewrite(value, False))
                elif isinstance(value, (list, tuple)):
                    setattr(node, field, tuple(rewrite(v, False) for v in value))
        return node

    return deparse(rewrite(tree, False))


def where_operators(statement: ast.Node) -> list[Operator]:
    """Operators applied to columns in the WHERE clauses of a statement and its subqueries: the predicates the
    app filters by."""
    found = []
    for node in nodes(statement):
        where = getattr(node, "whereClause", None) if isinstance(node, (ast.SelectStmt, ast.UpdateStmt,
                                                                         ast.DeleteStmt)) else None
        if where is None:
            continue
        for expr in nodes(where):
            # PostgreSQL's rule (contain_leaked_vars): only an operator applied to the row's columns can leak
            if (isinstance(expr, ast.A_Expr) and expr.name and isinstance(expr.name[-1], ast.String)
                    and any(isinstance(n, ast.ColumnRef) for n in nodes([expr.lexpr, expr.rexpr]))):
                found.append(Operator(str(expr.name[-1].sval)))
    return found


def relations(statement: ast.Node) -> list[tuple[str | None, str]]:
    """The (schema, table) names a statement reads or writes."""
    return [(n.schemaname, str(n.relname)) for n in nodes(statement) if isinstance(n, ast.RangeVar)]


def body_statements(language: str, source: str, definition: str) -> list[ast.Node]:
    """The SQL statements and expressions of a function body: every statement of a LANGUAGE sql body, every
    query and expression of a plpgsql one (through pglast's plpgsql parser). Other languages: none."""
    if language == "sql":
        return [raw.stmt for raw in pglast.parse_sql(source) if raw.stmt is not None]
    if language != "plpgsql":
        return []
    queries: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            expr = node.get("PLpgSQL_expr")
            if isinstance(expr, dict) and isinstance(expr.get("query"), str):
                query: str = expr["query"]
                mode = expr.get("parseMode", 0)
                if mode == 3 and ":=" in query:  # an assignment: `x := <expr>`
                    query = query.split(":=", 1)[1]
                queries.append(query if mode == 0 else f"select {query}")
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(json.loads(json.dumps(pglast.parse_plpgsql(definition))))
    statements: list[ast.Node] = []
    for query in queries:
        try:
            statements.extend(raw.stmt for raw in pglast.parse_sql(query) if raw.stmt is not None)
        except pglast.parser.ParseError:
            continue  # a dynamic fragment plpgsql completes at run time (EXECUTE strings are not parsed)
    return statements


def controls_transactions(language: str, definition: str) -> bool:
    """A plpgsql procedure that COMMITs or ROLLBACKs: PostgreSQL forbids it a SET clause (search_path included)."""
    if language != "plpgsql":
        return False
    text = json.dumps(pglast.parse_plpgsql(definition))
    return '"PLpgSQL_stmt_commit"' in text or '"PLpgSQL_stmt_rollback"' in text


def parameterize(statement: ast.Node, types: dict[str, str]) -> str | None:
    """The statement with each variable (an unqualified name in types, or a `$n` keyed "$n") as a typed
    parameter `$k::type`, numbered densely by first use, as PL/pgSQL and SQL functions pass them to the planner;
    None when a type cannot be written as a cast."""
    numbers: dict[str, int] = {}

    def placeholder(key: str) -> ast.Node:
        number = numbers.setdefault(key, len(numbers) + 1)
        cast = pglast.parse_sql(f"select $1::{types[key]}")[0].stmt
        assert isinstance(cast, ast.SelectStmt) and cast.targetList
        value = cast.targetList[0].val
        assert isinstance(value, ast.TypeCast) and isinstance(value.arg, ast.ParamRef)
        value.arg.number = number
        return value

    def rewrite(node: Any) -> Any:
        if isinstance(node, ast.ColumnRef) and node.fields and len(node.fields) == 1 \
                and isinstance(node.fields[0], ast.String) and node.fields[0].sval in types:
            return placeholder(str(node.fields[0].sval))
        if isinstance(node, ast.ParamRef) and f"${node.number}" in types:
            return placeholder(f"${node.number}")
        if isinstance(node, ast.Node):
            for field in node:
                value = getattr(node, field)
                if isinstance(value, ast.Node):
                    setattr(node, field, rewrite(value))
                elif isinstance(value, (list, tuple)):
                    setattr(node, field, tuple(rewrite(v) for v in value))
        return node

    copy = pglast.parse_sql(deparse(statement))[0].stmt  # the caller's tree stays as it was
    try:
        return deparse(rewrite(copy))
    except pglast.parser.ParseError:
        return None
