"""Candidate indexes from what the app's statements filter and sort by, read from pglast's parse tree.

dexter's rule, simplified: per table, every column compared with `=`/IN and every column ranged over or
sorted by, alone and as an ordered pair led by an equality column; a candidate an existing valid index
already leads with is left out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pglast
from pglast import ast
from psycopg import sql

from pg_ops.engine.lint import sql_tree

EQUALITY = {"=", "IN"}
RANGE = {"<", ">", "<=", ">=", "BETWEEN"}
TableName = tuple[str, str]


@dataclass(frozen=True)
class Candidate:
    schema: str
    table: str
    columns: tuple[str, ...]

    @property
    def name(self) -> str:
        """pgops_advised_<table>_<columns>_idx, cut to PostgreSQL's 63 bytes with a hash that keeps it unique."""
        name = f"pgops_advised_{self.table}_{'_'.join(self.columns)}_idx"
        if len(name.encode()) <= 63:
            return name
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        return f"{name.encode()[:50].decode(errors='ignore')}_{digest}_idx"

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.table} ({', '.join(self.columns)})"

    def statement(self, concurrently: bool = True) -> sql.Composed:
        return sql.SQL("create index {}{} on {} ({})").format(
            sql.SQL("concurrently ") if concurrently else sql.SQL(""), sql.Identifier(self.name),
            sql.Identifier(self.schema, self.table), sql.SQL(", ").join(map(sql.Identifier, self.columns)))


@dataclass
class ColumnUse:
    equality: list[str]
    ranged: list[str]


def _column(ref: ast.ColumnRef, aliases: dict[str, TableName], only: TableName | None,
            columns_of: dict[TableName, set[str]]) -> tuple[TableName, str] | None:
    names = [f.sval for f in ref.fields or () if isinstance(f, ast.String)]
    if len(names) == 2 and names[0] in aliases:
        return aliases[names[0]], str(names[1])
    if len(names) == 1:
        owners = [t for t in aliases.values() if names[0] in columns_of.get(t, set())]
        owner = only or (owners[0] if len(set(owners)) == 1 else None)
        if owner is not None and names[0] in columns_of.get(owner, set()):
            return owner, str(names[0])
    return None


def uses(statement: str, columns_of: dict[TableName, set[str]],
         default_schema: str = "public") -> dict[TableName, ColumnUse]:
    """Per table a statement reads: the columns it compares for equality and those it ranges over or sorts by."""
    found: dict[TableName, ColumnUse] = {}
    try:
        parsed = [raw.stmt for raw in pglast.parse_sql(statement) if raw.stmt is not None]
    except pglast.parser.ParseError:
        return found
    for select in (n for tree in parsed for n in sql_tree.nodes(tree) if isinstance(n, ast.SelectStmt)):
        aliases: dict[str, TableName] = {}
        for rel in sql_tree.nodes(select.fromClause or ()):
            if isinstance(rel, ast.RangeVar):
                table = (rel.schemaname or default_schema, str(rel.relname))
                if table in columns_of:
                    aliases[str(rel.alias.aliasname) if rel.alias else str(rel.relname)] = table
        if not aliases:
            continue
        only = next(iter(aliases.values())) if len(set(aliases.values())) == 1 else None

        def note(ref: Any, kind: str, aliases: dict[str, TableName] = aliases,
                 only: TableName | None = only) -> None:
            if not isinstance(ref, ast.ColumnRef):
                return
            hit = _column(ref, aliases, only, columns_of)
            if hit is None:
                return
            use = found.setdefault(hit[0], ColumnUse([], []))
            target = use.equality if kind == "eq" else use.ranged
            if hit[1] not in target:
                target.append(hit[1])

        for expr in sql_tree.nodes(select.whereClause or ()):
            if isinstance(expr, ast.A_Expr) and expr.name:
                op = str(expr.name[-1].sval) if isinstance(expr.name[-1], ast.String) else ""
                form = expr.kind.name if expr.kind is not None else ""
                kind = "eq" if op == "=" and form in ("AEXPR_OP", "AEXPR_IN") else \
                    "range" if op in RANGE or form.startswith("AEXPR_BETWEEN") else ""
                if kind:
                    note(expr.lexpr, kind)
                    if kind == "eq" and form == "AEXPR_OP":
                        note(expr.rexpr, kind)
        for sort in select.sortClause or ():
            if isinstance(sort, ast.SortBy):
                note(sort.node, "range")
    return found


def generate(statements: list[str], columns_of: dict[TableName, set[str]],
             existing: dict[TableName, list[tuple[str, ...]]]) -> list[Candidate]:
    """Single columns and equality-led pairs, minus what an existing index already leads with."""
    wanted: list[Candidate] = []
    for statement in statements:
        for (schema, table), use in uses(statement, columns_of).items():
            shapes: list[tuple[str, ...]] = [(c,) for c in use.equality + use.ranged]
            shapes += [(e, o) for e in use.equality for o in use.equality + use.ranged if o != e]
            for shape in shapes:
                covered = any(index[:len(shape)] == shape for index in existing.get((schema, table), []))
                candidate = Candidate(schema, table, shape)
                if not covered and candidate not in wanted:
                    wanted.append(candidate)
    return wanted
