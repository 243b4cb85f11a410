"""What the rollout's files expect to find in the target: tables and columns, read from their parse trees.

A rollout pointed at the wrong database (an empty one, a staging copy from last year) should be refused
before anything is created, not at its first index build with a ledger row and a `pgops` schema behind it.
Relations the files create themselves are not required; function bodies (strings to the parser) are not
read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pglast
from pglast import ast, visitors

from pg_ops.engine import sqlfiles
from pg_ops.engine.db import Connection
from pg_ops.engine.migrations.migration_files import MigrationFile


@dataclass
class Requirements:
    tables: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (schema or "", table) -> columns
    sources: dict[tuple[str, str], str] = field(default_factory=dict)  # (schema, table) -> first file needing it

    def need(self, schema: str, table: str, columns: set[str], source: str) -> None:
        self.tables.setdefault((schema, table), set()).update(columns)
        self.sources.setdefault((schema, table), source)


class _References(visitors.Visitor):
    def __init__(self) -> None:
        self.relations: list[tuple[str, str]] = []
        self.ctes: set[str] = set()
        self.created: set[tuple[str, str]] = set()

    def visit_RangeVar(self, ancestors: Any, node: ast.RangeVar) -> None:
        self.relations.append((node.schemaname or "", str(node.relname)))

    def visit_CommonTableExpr(self, ancestors: Any, node: ast.CommonTableExpr) -> None:
        self.ctes.add(str(node.ctename))

    def _creates(self, relation: ast.RangeVar | None) -> None:
        if relation is not None:
            self.created.add((relation.schemaname or "", str(relation.relname)))

    def visit_CreateStmt(self, ancestors: Any, node: ast.CreateStmt) -> None:
        self._creates(node.relation)

    def visit_ViewStmt(self, ancestors: Any, node: ast.ViewStmt) -> None:
        self._creates(node.view)

    def visit_CreateTableAsStmt(self, ancestors: Any, node: ast.CreateTableAsStmt) -> None:
        self._creates(node.into.rel if node.into is not None else None)


class _Columns(visitors.Visitor):
    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_ColumnRef(self, ancestors: Any, node: ast.ColumnRef) -> None:
        last = node.fields[-1] if node.fields else None
        if isinstance(last, ast.String):
            self.names.add(str(last.sval))


def _index_columns(node: ast.IndexStmt) -> set[str]:
    names = {str(p.name) for p in (*(node.indexParams or ()), *(node.indexIncludingParams or ())) if p.name}
    finder = _Columns()
    finder(node)
    return names | finder.names


def required(files: list[MigrationFile]) -> Requirements:
    """Tables (and the columns indexes name) that `files` use and do not create, in file order."""
    result = Requirements()
    created: set[tuple[str, str]] = set()
    for migration in files:
        for raw in (tree for statement in migration.statements for tree in pglast.parse_sql(statement)):
            node = raw.stmt
            if node is None:
                continue
            refs = _References()
            refs(node)
            created |= refs.created
            indexed = None
            if isinstance(node, ast.IndexStmt) and node.relation is not None:
                indexed = (node.relation.schemaname or "", str(node.relation.relname))
            for key in refs.relations:
                schema, table = key
                if (not schema and table in refs.ctes) or schema in ("pg_catalog", "information_schema"):
                    continue
                if key in created:
                    continue
                columns = _index_columns(node) if key == indexed and isinstance(node, ast.IndexStmt) else set()
                result.need(key[0], key[1], columns, migration.label)
    return result


def missing(conn: Connection, requirements: Requirements) -> list[str]:
    """What the target lacks, as `schema.table` or `schema.table.column (needed by file)`."""
    absent: list[str] = []
    for (schema, table), columns in requirements.tables.items():
        row = conn.execute(sqlfiles.read("pgops/relation_columns.sql"),
                           {"schema": schema, "table": table}).fetchone()
        name = f"{schema}.{table}" if schema else table
        source = requirements.sources[(schema, table)]
        if row is None:
            absent.append(f"{name} ({source})")
            continue
        absent += [f"{name}.{column} ({source})" for column in sorted(columns - set(row["columns"]))]
    return absent


def refusal(target: str, absent: list[str]) -> str:
    shown = ", ".join(absent[:3]) + (f" and {len(absent) - 3} more" if len(absent) > 3 else "")
    return (f"{target} is not the database these migrations are for: it has no {shown}; point PG_OPS_DSN at the "
            "application's database; nothing was changed")
