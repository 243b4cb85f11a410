"""The lint rules: the catalog in, findings out (no database here; evidence.py adds the plans)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pglast

from pg_ops.engine.lint import sql_tree
from pg_ops.engine.lint.catalog import MANAGED_SCHEMAS, Catalog, Function, Policy

PERFORMANCE = "performance"
SECURITY = "security"
ERROR, WARN, INFO = "error", "warn", "info"
SEVERITY_ORDER = {ERROR: 0, WARN: 1, INFO: 2}


@dataclass(frozen=True)
class Rule:
    name: str
    category: str
    severity: str
    title: str


RULES = {r.name: r for r in (
    Rule("auth_call_per_row", PERFORMANCE, WARN, "auth.*() or current_setting() evaluated for every row"),
    Rule("helper_per_row", PERFORMANCE, WARN, "a helper function that reads the request's identity, called per row"),
    Rule("volatile_function_in_policy", PERFORMANCE, WARN, "a VOLATILE function in a policy"),
    Rule("correlated_subquery", PERFORMANCE, WARN, "a subquery correlated with the policy's own table"),
    Rule("non_leakproof_predicate", PERFORMANCE, WARN,
         "the app filters an RLS table with a predicate that is not LEAKPROOF"),
    Rule("multiple_permissive_policies", PERFORMANCE, WARN, "several permissive policies for one role and command"),
    Rule("policy_without_role", PERFORMANCE, WARN, "a policy without TO: it runs for every role, anon included"),
    Rule("unindexed_foreign_key", PERFORMANCE, INFO, "a foreign key no index leads with"),
    Rule("duplicate_index", PERFORMANCE, WARN, "two indexes with the same definition"),
    Rule("redundant_index", PERFORMANCE, INFO, "an index whose columns lead another index"),
    Rule("unused_index", PERFORMANCE, INFO, "an index no query has used"),
    Rule("invalid_index", PERFORMANCE, WARN, "an INVALID index: every write maintains it, no query uses it"),
    Rule("intersected_index", PERFORMANCE, INFO, "a unique or partial index whose keys lead another's"),
    Rule("index_with_nulls", PERFORMANCE, INFO, "an index that stores the NULLs of its first column"),
    Rule("boolean_in_index", PERFORMANCE, INFO, "a boolean column among an index's keys"),
    Rule("btree_on_array", PERFORMANCE, WARN, "a btree index on an array column"),
    Rule("unnecessary_index_predicate", PERFORMANCE, INFO, "a partial index's `IS NOT NULL` on a NOT NULL column"),
    Rule("table_without_primary_key", PERFORMANCE, WARN, "a table without a primary key"),
    Rule("table_bloat", PERFORMANCE, INFO, "a table at least half dead space (estimated)"),
    Rule("index_bloat", PERFORMANCE, INFO, "a btree index at least half dead space (estimated)"),
    Rule("function_search_path_mutable", SECURITY, WARN, "a function without a fixed search_path"),
    Rule("security_definer_executable_by_anon", SECURITY, WARN,
         "a SECURITY DEFINER function in an exposed schema that anon can call"),
    Rule("rls_disabled_in_exposed_schema", SECURITY, ERROR,
         "a table in an exposed schema without row-level security"),
    Rule("policy_exists_rls_disabled", SECURITY, ERROR, "policies on a table whose row-level security is off"),
    Rule("rls_enabled_no_policy", SECURITY, INFO, "row-level security on, no policy: nobody but the owner reads it"),
    Rule("policy_always_true", SECURITY, WARN, "a write policy that admits every row"),
)}

ACCEPT = re.compile(r"pg_ops:\s*lint-accept\s+([a-z_,\s]+)")


@dataclass
class Finding:
    rule: str
    object: str
    why: str
    fix: str
    # the plan fragment that shows the cost, when the rule is about a plan (evidence.py fills it)
    evidence: str | None = None
    # set on the table whose plan shows it (evidence.py), with the role and command to plan as
    table: tuple[str, str] | None = None
    command: str = "SELECT"
    plan_role: str = "authenticated"
    plan_names: tuple[str, ...] = ()
    statement: str | None = None
    accepted: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def category(self) -> str:
        return RULES[self.rule].category

    @property
    def severity(self) -> str:
        return RULES[self.rule].severity

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "title": RULES[self.rule].title, "category": self.category,
                "severity": self.severity, "object": self.object,
                "why": self.why, "fix": self.fix, "evidence": self.evidence, "accepted": self.accepted}


def _accepted(comment: str | None) -> set[str]:
    match = ACCEPT.search(comment or "")
    return {name.strip() for name in match.group(1).replace(",", " ").split()} if match else set()


def _is_auth_call(f: Function | None, schema: str | None, name: str) -> bool:
    if f is not None:
        return f.schema == "auth" or (f.schema == "pg_catalog" and f.name == "current_setting")
    return schema == "auth" or (schema in (None, "pg_catalog") and name == "current_setting")


class _Helpers:
    """Which functions read the request's identity on every call (transitively, through their bodies)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.memo: dict[str, tuple[str, ...]] = {}

    def identity_calls(self, f: Function, depth: int = 0) -> tuple[str, ...]:
        """The unwrapped auth.*() / current_setting() calls f's body makes, directly or through helpers."""
        if f.label in self.memo:
            return self.memo[f.label]
        self.memo[f.label] = ()  # recursion guard
        found: list[str] = []
        try:
            statements = sql_tree.body_statements(f.language, f.source, f.definition or "")
        except pglast.parser.ParseError:
            statements = []
        for call in sql_tree.calls(statements):
            if call.wrapped:
                continue
            target = self.catalog.function(call.schema, call.name, call.nargs)
            if _is_auth_call(target, call.schema, call.name):
                found.append(f"{call.schema or 'pg_catalog'}.{call.name}()")
            elif target is not None and depth < 5 and target.schema not in ("pg_catalog",):
                found.extend(self.identity_calls(target, depth + 1))
        self.memo[f.label] = tuple(dict.fromkeys(found))
        return self.memo[f.label]


def _parses(text: str) -> bool:
    try:
        sql_tree.parse_expression(text)
        return True
    except pglast.parser.ParseError:
        return False


def _call_name(schema: str | None, name: str) -> str:
    return f"{schema}.{name}()" if schema else f"{name}()"


def _policy_findings(p: Policy, catalog: Catalog, helpers: _Helpers) -> Iterable[Finding]:
    table = (p.schema, p.table)
    # FOR ALL is planned as an UPDATE: a SELECT plan ORs in the table's other read policies
    plan_command = "UPDATE" if p.command == "ALL" else p.command
    exprs = [(kind, text) for kind, text in (("using", p.using_expr), ("with check", p.check_expr)) if text]
    per_row: list[str] = []
    helper_calls: list[str] = []
    volatile: list[str] = []
    correlated: list[str] = []
    plan_names: list[str] = []
    # a qual PostgreSQL printed and pglast cannot read is left to the catalog rules
    exprs = [(kind, text) for kind, text in exprs if _parses(text)]
    for _kind, text in exprs:
        tree = sql_tree.parse_expression(text)
        for call in sql_tree.calls(tree):
            f = catalog.function(call.schema, call.name, call.nargs)
            label = _call_name(call.schema, call.name)
            if f is not None and f.volatility == "v":
                volatile.append(label)
            if call.wrapped:
                continue
            if _is_auth_call(f, call.schema, call.name):
                per_row.append(label)
                # auth.uid() is a SQL function the planner inlines: the plan shows what it reads
                plan_names += [label.removesuffix("()") + "(", "current_setting("]
            elif f is not None and f.schema not in ("pg_catalog",) and helpers.identity_calls(f):
                helper_calls.append(f"{label} (reads {', '.join(helpers.identity_calls(f))})")
                plan_names += [label.removesuffix("()") + "(", "current_setting("]
        correlated += sql_tree.correlated_subqueries(tree, p.table)

    def wrap(text: str) -> str:
        def should(call: sql_tree.Call) -> bool:
            if call.wrapped or call.reads_columns:
                return False
            f = catalog.function(call.schema, call.name, call.nargs)
            return _is_auth_call(f, call.schema, call.name) or (
                f is not None and f.schema != "pg_catalog" and bool(helpers.identity_calls(f)))
        return sql_tree.wrap_calls(text, should)

    def alter_with_wrapped() -> str:
        parts = [f"{kind} ({wrap(text)})" for kind, text in exprs]
        return f"alter policy {p.name} on {p.schema}.{p.table} {' '.join(parts)};"

    if per_row:
        yield Finding("auth_call_per_row", p.label,
                      f"{', '.join(sorted(set(per_row)))} is not the value of a scalar (select ...), so PostgreSQL "
                      "evaluates it for every row the policy checks instead of once per query (an InitPlan)",
                      alter_with_wrapped(), table=table, command=plan_command,
                      plan_names=tuple(dict.fromkeys(plan_names)))
    if helper_calls:
        column_args = any(c.reads_columns for _, t in exprs for c in sql_tree.calls(sql_tree.parse_expression(t))
                          if not c.wrapped and (f := catalog.function(c.schema, c.name, c.nargs)) is not None
                          and bool(helpers.identity_calls(f)))
        fix = (alter_with_wrapped() if not column_args else
               "make the helper take no row values and return the set the row is checked against, then "
               "`column in (select helper())` (Supabase's guidance), so it runs once per query")
        yield Finding("helper_per_row", p.label,
                      f"{'; '.join(sorted(set(helper_calls)))}: called per row, and each call reads the request's "
                      "identity again", fix, table=table, command=plan_command,
                      plan_names=tuple(dict.fromkeys(plan_names)))
    if volatile:
        yield Finding("volatile_function_in_policy", p.label,
                      f"{', '.join(sorted(set(volatile)))} is VOLATILE: evaluated for every row, never folded or "
                      "hoisted, and it blocks index use for the quals around it",
                      "declare the function STABLE if it only reads (or IMMUTABLE if it reads nothing), or move "
                      "it out of the policy", table=table, command=plan_command,
                      plan_names=tuple(v.removesuffix("()") + "(" for v in volatile))
    if correlated:
        yield Finding("correlated_subquery", p.label,
                      f"{correlated[0]} reads {p.table}'s own columns, so it is a join per checked row (hashed "
                      "only while the subquery's rows fit in work_mem)",
                      "turn it around: `<column> in (select <key> from ... where <condition on (select auth.uid())>)`,"
                      " a set computed once per query", table=table, command=plan_command, plan_names=("SubPlan",))
    if p.roles == ("public",):
        yield Finding("policy_without_role", p.label,
                      "no TO clause: the policy is evaluated for every role, anon included, even those it can never "
                      "admit", f"recreate it with TO authenticated (or the roles it is for): drop policy {p.name} on "
                      f"{p.schema}.{p.table}; create policy {p.name} on {p.schema}.{p.table} ... to authenticated "
                      "...", table=table, command=plan_command, plan_role="anon")
    if p.command != "SELECT" and any(text.strip().lower() == "true" for _, text in exprs):
        yield Finding("policy_always_true", p.label,
                      f"the {p.command} policy admits every row to {', '.join(p.roles)}: row-level security does "
                      "not protect these writes", "give the policy a condition on the row (for example the "
                      "owner column = (select auth.uid())), or drop it if nobody should write")


def _multiple_permissive(catalog: Catalog) -> Iterable[Finding]:
    groups: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
    for p in catalog.policies:
        if not p.permissive:
            continue
        for command in (("SELECT", "INSERT", "UPDATE", "DELETE") if p.command == "ALL" else (p.command,)):
            for role in p.roles:
                groups[(p.schema, p.table, role, command)].append(p.name)
    by_table: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for (schema, table, role, command), names in sorted(groups.items()):
        if len(names) > 1:
            by_table[(schema, table, " & ".join(sorted(names)))].append(f"{role} {command}")
    for (schema, table, joined), uses in by_table.items():
        yield Finding("multiple_permissive_policies", f"table {schema}.{table}",
                      f"{joined.replace(' & ', ' and ')} are all permissive for {', '.join(uses)}: PostgreSQL "
                      "evaluates every one of them for each row (joined by OR)",
                      "give each command its own policy (FOR ALL covers SELECT too: split it into INSERT, UPDATE "
                      "and DELETE), or merge the conditions into one policy per role and command",
                      table=(schema, table),
                      command=next(u.split()[1] for u in uses),
                      plan_role=uses[0].split()[0] if uses[0].split()[0] != "public" else "authenticated")


def _leaky_predicates(catalog: Catalog) -> Iterable[Finding]:
    rls_tables = {(t.schema, t.name) for t in catalog.tables if t.rls_enabled}
    by_name = defaultdict(list)
    for schema, name in rls_tables:
        by_name[name].append(schema)
    reported: set[tuple[str, str, str]] = set()
    for s in catalog.statements:
        try:
            statements = [raw.stmt for raw in pglast.parse_sql(s.query) if raw.stmt is not None]
        except pglast.parser.ParseError:
            continue
        for stmt in statements:
            tables = []
            for written, name in sql_tree.relations(stmt):
                where = written or next((n for n in by_name.get(name, []) if n in catalog.exposed_schemas), None)
                if where is not None and (where, name) in rls_tables:
                    tables.append((where, name))
            if not tables:
                continue
            leaky = sorted({o.name for o in sql_tree.where_operators(stmt) if catalog.never_leakproof.get(o.name)})
            key = (tables[0][0], tables[0][1], " ".join(leaky))
            if not leaky or key in reported:
                continue
            reported.add(key)
            ops = ", ".join(f"`{op}`" for op in leaky)
            yield Finding("non_leakproof_predicate", f"table {tables[0][0]}.{tables[0][1]} ({ops} as {s.role})",
                          f"the application filters by {ops}, which no LEAKPROOF operator implements: under "
                          "row-level security PostgreSQL must check the policy first, so it cannot use an index "
                          f"for the predicate and filters row by row ({s.calls:,} calls of: "
                          f"{' '.join(s.query.split())[:160]})", "serve the search from a SECURITY DEFINER "
                          "function with an empty search_path that applies the policy's rule itself (as "
                          "search_products does), or filter with leakproof operators on indexed columns",
                          table=tables[0], plan_role=s.role, plan_names=tuple(leaky), statement=s.query)


def _table_findings(catalog: Catalog) -> Iterable[Finding]:
    for t in catalog.tables:
        label = f"table {t.schema}.{t.name}"
        if not t.rls_enabled and t.schema in catalog.exposed_schemas:
            yield Finding("rls_disabled_in_exposed_schema", label,
                          f"{t.schema} is exposed through the API and the table has no row-level security: anyone "
                          "with the anon key reads and writes every row the grants allow",
                          f"alter table {t.schema}.{t.name} enable row level security; then add policies")
        if not t.rls_enabled and t.policies:
            yield Finding("policy_exists_rls_disabled", label,
                          f"{t.policies} policies are written but not applied: row-level security is off",
                          f"alter table {t.schema}.{t.name} enable row level security;")
        if t.rls_enabled and not t.policies:
            yield Finding("rls_enabled_no_policy", label,
                          "row-level security is on and no policy admits anyone: only the owner and roles with "
                          "BYPASSRLS see rows", "add the policies the app needs, or accept it if the table is "
                          "private on purpose")


def _function_findings(catalog: Catalog) -> Iterable[Finding]:
    for f in catalog.functions:
        if f.schema in MANAGED_SCHEMAS or f.from_extension:
            continue
        # a procedure that commits may not SET search_path (pg_ops' own backfills qualify every name instead)
        if not f.fixed_search_path and not (f.procedure and _commits(f)):
            yield Finding("function_search_path_mutable", f"function {f.label}",
                          "its search_path is the caller's: a caller who can create objects in a schema early on "
                          "the path can make it call their function instead",
                          f"alter function {f.label} set search_path = ''; and qualify every name in the body")
        if f.security_definer and f.anon_executes and f.schema in catalog.exposed_schemas:
            yield Finding("security_definer_executable_by_anon", f"function {f.label}",
                          "anon can call it over the API, and it runs with its owner's rights (row-level security "
                          "does not apply to the owner)",
                          f"revoke execute on function {f.label} from anon, public; or make it SECURITY INVOKER; "
                          "if public access is the point, say so with "
                          f"comment on function {f.label} is 'pg_ops: lint-accept security_definer_executable_by_anon'")


def _commits(f: Function) -> bool:
    try:
        return sql_tree.controls_transactions(f.language, f.definition or "")
    except pglast.parser.ParseError:
        return False


def _index_findings(catalog: Catalog, unused_after_days: float) -> Iterable[Finding]:
    for r in catalog.duplicate_indexes:
        rule = "duplicate_index" if r["kind"] == "DUPLICATE" else "redundant_index"
        same = "has the same definition" if rule == "duplicate_index" else "starts with the same columns"
        yield Finding(rule, f"index {r['redundant_index']}",
                      f"{r['covered_by']} {same}: {r['redundant_index']} costs every write and "
                      f"{r['redundant_bytes']:,} bytes for nothing",
                      f"drop index concurrently {r['redundant_index']};")
    for r in catalog.unindexed_foreign_keys:
        yield Finding("unindexed_foreign_key", f"foreign key {r['constraint_name']} on {r['schema']}.{r['table_name']}",
                      f"no index leads with ({r['columns']}): deleting or updating a row of {r['references_table']} "
                      "scans this table", f"create index concurrently on {r['schema']}.{r['table_name']} "
                      f"({r['columns']});")
    for r in catalog.unused_indexes:
        if r["days_of_statistics"] < unused_after_days:
            continue
        yield Finding("unused_index", f"index {r['schema']}.{r['index_name']}",
                      f"not scanned once in {r['days_of_statistics']:.0f} days of statistics; it costs every write "
                      f"on {r['table_name']} and {r['bytes']:,} bytes",
                      f"drop index concurrently {r['schema']}.{r['index_name']}; (check replicas' statistics first)")


def _health_findings(catalog: Catalog, bloat_min_bytes: int) -> Iterable[Finding]:
    h = catalog.health
    for r in h.get("invalid_indexes", []):
        if r["being_built"]:
            continue  # a CREATE INDEX CONCURRENTLY still running is INVALID until it finishes
        yield Finding("invalid_index", f"index {r['schema']}.{r['index_name']}",
                      f"on {r['table_name']}: not {'valid' if r['ready'] else 'ready'} (a failed or cancelled "
                      "CREATE INDEX CONCURRENTLY leaves it); writes maintain it, the planner never uses it",
                      f"drop index concurrently {r['schema']}.{r['index_name']}; then build it again")
    for r in h.get("intersected_indexes", []):
        narrow, wide = f"{r['schema']}.{r['narrower_index']}", f"{r['schema']}.{r['wider_index']}"
        if r["narrower_unique"] and (r["wider_has_more_keys"] or r["wider_has_include"]):
            why = (f"{wide} starts with {narrow}'s keys: intentional when {narrow} enforces uniqueness and {wide} "
                   f"serves queries that need its {'further keys' if r['wider_has_more_keys'] else 'INCLUDE columns'} "
                   "(index-only scans); both are needed")
            fix = "nothing, if that is the intent; otherwise drop the one no query needs"
            yield Finding("intersected_index", f"index {narrow} and {wide}", why, fix, accepted=True)
            continue
        if r["narrower_unique"]:
            why = f"{narrow} and {wide} are both unique on the same keys: one enforces what the other does"
            fix = f"drop index concurrently {wide}; unless a constraint uses it ({r['wider_bytes']:,} bytes)"
        else:
            why = f"{narrow}'s keys lead {wide}'s with the same predicate: {wide} answers its lookups too"
            fix = f"drop index concurrently {narrow}; unless it enforces a constraint"
        yield Finding("intersected_index", f"index {narrow} and {wide}", why, fix)
    for r in h.get("nullable_indexes", []):
        share = "unknown (no statistics)" if r["null_fraction"] is None else f"{r['null_fraction']:.0%}"
        yield Finding("index_with_nulls", f"index {r['schema']}.{r['index_name']}",
                      f"its first column {r['column_name']} may be NULL (now {share} of the rows) and every NULL row "
                      "is stored, though `= value` never finds one",
                      f"if queries never ask for NULLs: rebuild it as a partial index WHERE {r['column_name']} IS NOT "
                      "NULL (create the new one concurrently, then drop the old)")
    for r in h.get("column_type_indexes", []):
        if r["kind"] == "boolean":
            yield Finding("boolean_in_index", f"index {r['schema']}.{r['index_name']}",
                          f"{r['column_name']} is boolean: two values split the index in halves that select little",
                          f"move it to the predicate: a partial index WHERE {r['column_name']} (or NOT "
                          f"{r['column_name']}) without it among the keys")
        else:
            yield Finding("btree_on_array", f"index {r['schema']}.{r['index_name']}",
                          f"{r['column_name']} is an array under a btree: it serves only whole-array equality and "
                          "sorting, never `@>`, `<@` or `&&`",
                          f"create index concurrently on {r['schema']}.{r['table_name']} using gin "
                          f"({r['column_name']}); then drop this one if no query compares whole arrays")
    for r in h.get("unnecessary_predicates", []):
        yield Finding("unnecessary_index_predicate", f"index {r['schema']}.{r['index_name']}",
                      f"its predicate {r['predicate']} filters nothing: {r['column_name']} is NOT NULL; and queries "
                      "must repeat it to use the index",
                      "rebuild it without the predicate (concurrently), or without that condition")
    for r in h.get("tables_without_primary_key", []):
        yield Finding("table_without_primary_key", f"table {r['schema']}.{r['table_name']}",
                      f"no primary key (about {max(r['estimated_rows'], 0):,} rows): logical replication (Supabase "
                      "Realtime) cannot send its updates and deletes, and duplicate rows are possible",
                      f"alter table {r['schema']}.{r['table_name']} add primary key (...); on a unique index built "
                      "concurrently first (`add primary key using index`) to keep the lock short")
    for kind, rows in (("table", h.get("table_bloat", [])), ("index", h.get("index_bloat", []))):
        for r in rows:
            if r["bytes"] == 0 or r["bloat_bytes"] < bloat_min_bytes or r["bloat_bytes"] * 2 < r["bytes"]:
                continue
            name = f"{r['schema']}.{r['table_name'] if kind == 'table' else r['index_name']}"
            yield Finding(f"{kind}_bloat", f"{kind} {name}",
                          f"about {r['bloat_bytes'] / 2**20:,.1f} of its {r['bytes'] / 2**20:,.1f} MiB hold no live "
                          "rows (estimated from ANALYZE's statistics): scans read them anyway",
                          (f"pg_repack, or VACUUM FULL {name} in a maintenance window (it locks the table)"
                           if kind == "table" else f"reindex index concurrently {name};"))


def findings(catalog: Catalog, unused_after_days: float = 7.0, bloat_min_bytes: int = 10 * 2**20) -> list[Finding]:
    helpers = _Helpers(catalog)
    found: list[Finding] = []
    for p in catalog.policies:
        found.extend(_policy_findings(p, catalog, helpers))
    found.extend(_multiple_permissive(catalog))
    found.extend(_leaky_predicates(catalog))
    found.extend(_table_findings(catalog))
    found.extend(_function_findings(catalog))
    found.extend(_index_findings(catalog, unused_after_days))
    found.extend(_health_findings(catalog, bloat_min_bytes))
    comments = {p.label: p.comment for p in catalog.policies}
    comments |= {f"table {t.schema}.{t.name}": t.comment for t in catalog.tables}
    comments |= {f"function {f.label}": f.comment for f in catalog.functions}
    for finding in found:
        finding.accepted = finding.accepted or finding.rule in _accepted(comments.get(finding.object))
    found.sort(key=lambda x: (x.accepted, SEVERITY_ORDER[x.severity], x.category, x.rule, x.object))
    return found
