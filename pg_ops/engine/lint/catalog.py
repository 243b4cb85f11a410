"""What the linter reads from a database: policies, tables, functions, operators, indexes, foreign keys and the
application's statements, in one read-only transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psycopg import Connection, sql

from pg_ops.engine import sqlfiles
from pg_ops.engine.errors import PgOpsError

# Schemas Supabase or an extension manages (their objects are not the project's to fix) and pg_ops' own.
MANAGED_SCHEMAS = (
    "pg_catalog", "information_schema", "pg_toast", "auth", "extensions", "storage", "realtime", "graphql",
    "graphql_public", "vault", "pgsodium", "pgsodium_masks", "supabase_functions", "supabase_migrations", "net",
    "cron", "pgbouncer", "pgtle", "pgops", "pgops_demo", "monitoring",
)
# PostgREST's db-schemas on a default Supabase project: what anon and authenticated reach over HTTP.
EXPOSED_SCHEMAS = ("public", "graphql_public")
# The functions whose value is the request's identity: auth.*() and what they read.
HEALTH_QUERIES = ("intersected_indexes", "nullable_indexes", "column_type_indexes", "unnecessary_predicates",
                  "tables_without_primary_key", "table_bloat", "index_bloat")
CATALOG_FUNCTIONS_OF_INTEREST = ("current_setting", "random", "clock_timestamp", "timeofday", "now",
                                 "txid_current", "nextval", "gen_random_uuid")


@dataclass(frozen=True)
class Policy:
    schema: str
    table: str
    name: str
    command: str
    permissive: bool
    roles: tuple[str, ...]
    using_expr: str | None
    check_expr: str | None
    comment: str | None

    @property
    def label(self) -> str:
        return f"policy {self.name} on {self.schema}.{self.table}"


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    rls_enabled: bool
    policies: int
    comment: str | None


@dataclass(frozen=True)
class Function:
    schema: str
    name: str
    procedure: bool
    nargs: int
    arguments: str
    language: str
    volatility: str  # i, s, v
    leakproof: bool
    security_definer: bool
    fixed_search_path: bool
    source: str
    definition: str | None
    anon_executes: bool | None
    from_extension: bool
    comment: str | None

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.name}({self.arguments})"


@dataclass(frozen=True)
class Statement:
    query: str
    role: str
    calls: int


@dataclass
class Catalog:
    policies: list[Policy]
    tables: list[Table]
    functions: list[Function]
    duplicate_indexes: list[dict[str, Any]]
    unindexed_foreign_keys: list[dict[str, Any]]
    unused_indexes: list[dict[str, Any]]
    statements: list[Statement]
    # index and table health (issue 19): one list of rows per query of sql/lint/
    health: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    exposed_schemas: tuple[str, ...] = EXPOSED_SCHEMAS
    # operator name -> True when no operator of that name is LEAKPROOF
    never_leakproof: dict[str, bool] = field(default_factory=dict)
    statements_note: str = ""
    _by_name: dict[tuple[str, str], list[Function]] = field(default_factory=dict, repr=False)

    def function(self, schema: str | None, name: str, nargs: int) -> Function | None:
        """The function a call names, through pg_proc: an unqualified name (the quals are read with an empty
        search_path) is pg_catalog's. Overloads with the same argument count resolve to the first."""
        if not self._by_name:  # a Supabase database has thousands of functions; policies call few of them
            for f in self.functions:
                self._by_name.setdefault((f.schema, f.name), []).append(f)
        overloads = self._by_name.get((schema or "pg_catalog", name), [])
        # a call that relies on defaults has fewer arguments than the function
        return next((f for f in overloads if f.nargs == nargs), None) or \
            next((f for f in overloads if f.nargs > nargs), None)


def read(conn: Connection[Any], exposed_schemas: tuple[str, ...] | None = None,
         statement_limit: int = 500) -> Catalog:
    """The catalog in one read-only transaction, rolled back: the linter changes nothing. Exposed schemas the
    user named must exist (a typo would silently expose nothing); the default ones need not."""
    skipped = list(MANAGED_SCHEMAS)
    with conn.transaction(force_rollback=True), conn.cursor() as cur:
        cur.execute("set transaction read only")
        cur.execute("set local search_path = ''")
        if exposed_schemas is not None:
            found = {r["nspname"] for r in cur.execute("select nspname from pg_catalog.pg_namespace where "
                                                       "nspname = any(%s)", (list(exposed_schemas),)).fetchall()}
            missing = [s for s in exposed_schemas if s not in found]
            if missing:
                raise PgOpsError(f"--schemas names {', '.join(missing)}, which the database has no schema of; give "
                                 "the schemas PostgREST exposes (its db-schemas), e.g. public")
        policies = [Policy(r["schema"], r["table_name"], r["policy"], r["command"], r["permissive"],
                           tuple(r["roles"]), r["using_expr"], r["check_expr"], r["comment"])
                    for r in cur.execute(sqlfiles.read("lint/policies.sql"), {"skipped": skipped}).fetchall()]
        tables = [Table(r["schema"], r["table_name"], r["rls_enabled"], r["policies"], r["comment"])
                  for r in cur.execute(sqlfiles.read("lint/tables.sql"), {"skipped": skipped}).fetchall()]
        functions = [Function(**r) for r in cur.execute(
            sqlfiles.read("lint/functions.sql"), {"catalog_names": list(CATALOG_FUNCTIONS_OF_INTEREST)}).fetchall()]
        wanted = set(skipped)
        duplicates = [r for r in cur.execute(sqlfiles.view_query("monitoring/duplicate_indexes.sql")).fetchall()
                      if r["schema"] not in wanted]
        unindexed = [r for r in cur.execute(sqlfiles.view_query("monitoring/unindexed_foreign_keys.sql")).fetchall()
                     if r["schema"] not in wanted]
        unused = cur.execute(sqlfiles.read("lint/unused_indexes.sql"), {"skipped": skipped}).fetchall()
        health = {name: cur.execute(sqlfiles.read(f"lint/{name}.sql"), {"skipped": skipped}).fetchall()
                  for name in HEALTH_QUERIES}
        health["invalid_indexes"] = [r for r in cur.execute(sqlfiles.view_query("monitoring/invalid_indexes.sql"))
                                     .fetchall() if r["schema"] not in wanted]
        operators = {r["name"]: r["never_leakproof"]
                     for r in cur.execute(sqlfiles.read("lint/operators.sql")).fetchall()}
        statements, note = _statements(cur, statement_limit)
    return Catalog(policies, tables, functions, duplicates, unindexed, unused, statements, health,
                   exposed_schemas=exposed_schemas or EXPOSED_SCHEMAS, never_leakproof=operators, statements_note=note)


def _statements(cur: Any, limit: int) -> tuple[list[Statement], str]:
    row = cur.execute(sqlfiles.read("pgops/extension_schema.sql")).fetchone()
    if row is None:
        return [], "pg_stat_statements is not installed: the application's predicates were not checked"
    query = sqlfiles.read("lint/statements.sql").format(
        pgss=sql.Identifier(row["schema"], "pg_stat_statements"))
    rows = cur.execute(query, {"limit": limit}).fetchall()
    return [Statement(r["query"], r["role"], r["calls"]) for r in rows], ""

