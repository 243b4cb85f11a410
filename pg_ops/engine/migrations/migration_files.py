"""Migration files: their header directives, their statements (split by pglast), checksums, and lint.

A file is `sql/migrations/NNN_name.sql` (versioned, applied once, in order) or `sql/functions/name.sql`
(repeatable, applied again whenever its content changes). Every versioned file has its down beside it,
`NNN_name.down.sql`, which undoes it (`pg-ops migrate --down-to`); a down with no statement says in its
comments why there is nothing to undo. A repeatable file needs no down: pg_ops keeps the definitions it
replaced and puts them back. Directives are comment lines at the top:

    -- pg_ops: step=index_migrations      which asset applies it
    -- pg_ops: transaction=off            run statement by statement, outside a transaction
                                          (required for CREATE INDEX CONCURRENTLY)
    -- pg_ops: when_available=rum         apply only on a server that offers this extension; elsewhere
                                          the file is neither pending nor applied, until it does
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import pglast
from pglast import ast, enums
from pglast.parser import ParseError
from pglast.stream import RawStream

from pg_ops.engine.errors import PgOpsError

_DIRECTIVE = re.compile(r"^--\s*pg_ops:\s*([a-z_]+)\s*=\s*(\S+)\s*$")
_VERSIONED_NAME = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.sql$")
_DOWN_NAME = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.down\.sql$")
KNOWN_DIRECTIVES = {"step", "transaction", "when_available"}


@dataclass(frozen=True)
class IndexBuild:
    """A CREATE INDEX statement, parsed: what the invalid-index lifecycle needs to know."""

    schema: str
    table: str
    name: str
    concurrent: bool
    statement: str

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class DownFile:
    """The steps that undo one versioned file."""

    path: Path
    sha256: str
    transactional: bool
    statements: tuple[str, ...]  # empty: nothing to undo (the file's comments say why)
    index_drops: tuple[str, ...] = field(default=())  # the DROP INDEX CONCURRENTLY statements

    @property
    def label(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}"


@dataclass(frozen=True)
class MigrationFile:
    version: str  # "001" for versioned files, "R:name" for repeatable ones
    name: str
    path: Path
    sha256: str
    step: str
    transactional: bool
    statements: tuple[str, ...]
    index_builds: tuple[IndexBuild, ...] = field(default=())
    when_available: str | None = None  # an extension the server must offer for this file to apply
    policy_tables: tuple[str, ...] = field(default=())  # "schema.table" whose policies the file creates or drops
    functions: tuple[str, ...] = field(default=())  # "schema.name(argtypes)" the file creates or replaces
    down: DownFile | None = None

    @property
    def repeatable(self) -> bool:
        return self.version.startswith("R:")

    @property
    def label(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}"


def _directives(text: str, path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("--"):
            break
        match = _DIRECTIVE.match(stripped)
        if match:
            key, value = match.groups()
            if key not in KNOWN_DIRECTIVES:
                raise PgOpsError(f"{path.name}: unknown directive 'pg_ops: {key}' (known: "
                                 f"{', '.join(sorted(KNOWN_DIRECTIVES))})")
            found[key] = value
    return found


def _line_of(text: str, message: str) -> str:
    match = re.search(r"at index (\d+)", message)
    return f"line {text.count(chr(10), 0, int(match.group(1))) + 1}" if match else "?"


def _index_build(node: ast.IndexStmt, statement: str) -> IndexBuild | None:
    if not node.idxname or node.relation is None:
        return None
    return IndexBuild(schema=node.relation.schemaname or "public", table=str(node.relation.relname),
                      name=node.idxname, concurrent=bool(node.concurrent), statement=statement)


def _split(path: Path, text: str) -> tuple[tuple[str, ...], tuple[ast.RawStmt, ...]]:
    try:
        return (tuple(s.strip() for s in pglast.split(text, with_parser=True)), tuple(pglast.parse_sql(text)))
    except ParseError as exc:
        raise PgOpsError(f"{path.name}: SQL syntax error at {_line_of(text, str(exc))}: {exc.args[0]}") from None


def _policy_table(node: ast.Node | None) -> str | None:
    if isinstance(node, (ast.CreatePolicyStmt, ast.AlterPolicyStmt)) and node.table is not None:
        return f"{node.table.schemaname or 'public'}.{node.table.relname}"
    if isinstance(node, ast.DropStmt) and node.removeType == enums.ObjectType.OBJECT_POLICY and node.objects:
        names = [s.sval for s in node.objects[0]][:-1]  # [schema,] table, policy
        return ".".join(names if len(names) == 2 else ["public", *names])
    return None


def function_signature(node: ast.CreateFunctionStmt) -> str:
    """`schema.name(type, ...)` as to_regprocedure reads it: the input arguments only."""
    names = [s.sval for s in node.funcname or ()]
    qualified = ".".join(names if len(names) == 2 else ["public", *names])
    outputs = (enums.FunctionParameterMode.FUNC_PARAM_OUT, enums.FunctionParameterMode.FUNC_PARAM_TABLE)
    args = [RawStream()(p.argType) for p in node.parameters or () if p.mode not in outputs]
    return f"{qualified}({', '.join(args)})"


def parse_down(path: Path) -> DownFile:
    text = path.read_text(encoding="utf-8")
    transaction = _directives(text, path).get("transaction", "on")
    if transaction not in ("on", "off"):
        raise PgOpsError(f"{path.name}: 'pg_ops: transaction={transaction}' must be on or off")
    statements, trees = _split(path, text)
    drops = []
    for raw, statement in zip(trees, statements, strict=True):
        node = raw.stmt
        if isinstance(node, ast.TransactionStmt):
            raise PgOpsError(f"{path.name}: BEGIN/COMMIT in a down file; pg_ops manages transactions "
                             "('-- pg_ops: transaction=on|off')")
        if isinstance(node, ast.DropStmt) and node.removeType == enums.ObjectType.OBJECT_INDEX and node.concurrent:
            if transaction == "on":
                raise PgOpsError(f"{path.name}: DROP INDEX CONCURRENTLY cannot run inside a transaction; add "
                                 "'-- pg_ops: transaction=off'")
            drops.append(statement)
    return DownFile(path=path, sha256=hashlib.sha256(text.encode()).hexdigest(), transactional=transaction == "on",
                    statements=statements, index_drops=tuple(drops))


def parse(path: Path, version: str, name: str) -> MigrationFile:
    text = path.read_text(encoding="utf-8")
    directives = _directives(text, path)
    statements, trees = _split(path, text)
    if not statements:
        raise PgOpsError(f"{path.name}: no SQL statement in the file")
    transaction = directives.get("transaction", "on")
    if transaction not in ("on", "off"):
        raise PgOpsError(f"{path.name}: 'pg_ops: transaction={transaction}' must be on or off")
    if "step" not in directives:
        raise PgOpsError(f"{path.name}: missing '-- pg_ops: step=<asset>' header line")
    builds, policy_tables, functions = [], [], []
    for raw, statement in zip(trees, statements, strict=True):
        node = raw.stmt
        table = _policy_table(node)
        if table and table not in policy_tables:
            policy_tables.append(table)
        if isinstance(node, ast.CreateFunctionStmt):
            functions.append(function_signature(node))
        if isinstance(node, ast.IndexStmt):
            build = _index_build(node, statement)
            if build is None:
                raise PgOpsError(f"{path.name}: CREATE INDEX needs an explicit name, so a failed build can be "
                                 "found and repaired")
            if build.concurrent and transaction == "on":
                raise PgOpsError(f"{path.name}: CREATE INDEX CONCURRENTLY cannot run inside a transaction; add "
                                 "'-- pg_ops: transaction=off'")
            builds.append(build)
        if isinstance(node, ast.TransactionStmt):
            raise PgOpsError(f"{path.name}: BEGIN/COMMIT in a migration; pg_ops manages transactions "
                             "('-- pg_ops: transaction=on|off')")
    return MigrationFile(version=version, name=name, path=path, sha256=hashlib.sha256(text.encode()).hexdigest(),
                         step=directives["step"], transactional=transaction == "on", statements=statements,
                         index_builds=tuple(builds), when_available=directives.get("when_available"),
                         policy_tables=tuple(policy_tables), functions=tuple(functions))


def discover(migrations_dir: Path | None, functions_dir: Path | None = None) -> list[MigrationFile]:
    """Versioned files in version order, then repeatable ones in name order."""
    found: list[MigrationFile] = []
    seen: dict[str, Path] = {}
    downs: dict[str, Path] = {}
    for path in sorted(migrations_dir.glob("*.sql")) if migrations_dir else []:
        down = _DOWN_NAME.match(path.name)
        if down:
            downs[path.name.removesuffix(".down.sql")] = path
            continue
        match = _VERSIONED_NAME.match(path.name)
        if not match:
            raise PgOpsError(f"{path}: migration files are named NNN_name.sql, their downs NNN_name.down.sql "
                             "(lowercase, digits, underscores)")
        version, name = match.groups()
        if version in seen:
            raise PgOpsError(f"{path.name} and {seen[version].name} share version {version}")
        seen[version] = path
        found.append(parse(path, version, name))
    for stem, path in downs.items():
        if stem not in {f.path.stem for f in found}:
            raise PgOpsError(f"{path.name} undoes no migration (there is no {stem}.sql); rename or remove it")
    found = [replace(f, down=parse_down(downs[f.path.stem])) if f.path.stem in downs else f for f in found]
    if functions_dir is not None and functions_dir.is_dir():
        for path in sorted(functions_dir.glob("*.sql")):
            found.append(parse(path, f"R:{path.stem}", path.stem))
    return found


@dataclass(frozen=True)
class LintFinding:
    file: str
    line: int
    rule: str
    message: str


def squawk_binary() -> str:
    candidate = Path(sys.executable).parent / "squawk"
    if candidate.is_file():
        return str(candidate)
    raise PgOpsError("squawk is not installed next to this Python; pip install squawk-cli (pg_ops's dependencies)")


def squawk_findings(paths: list[tuple[Path, bool]], config: Path | None) -> list[LintFinding]:
    """squawk's findings on (file, runs in a transaction) pairs: linted as they will run."""
    findings: list[LintFinding] = []
    for in_transaction in (True, False):
        group = [path for path, transactional in paths if transactional == in_transaction]
        if not group:
            continue
        argv = [squawk_binary(), "--reporter", "json", "--pg-version", "15"]
        if config is not None and config.is_file():
            argv += ["--config", str(config)]
        argv += ["--assume-in-transaction" if in_transaction else "--no-assume-in-transaction"]
        argv += [str(path) for path in group]
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
        try:
            raw = json.loads(result.stdout or "[]")
        except json.JSONDecodeError:
            raise PgOpsError(f"squawk failed: {(result.stderr or result.stdout).strip()[:300]}") from None
        findings += [LintFinding(file=Path(f["file"]).name, line=int(f["line"]) + 1, rule=f["rule_name"],
                                 message=f["message"]) for f in raw]
    return findings


def lint(files: list[MigrationFile], config: Path | None, down_config: Path | None = None) -> list[LintFinding]:
    """squawk's findings on the given files and their downs (the waived rules are in `config` and, for the
    downs, `down_config`), and every versioned file without a down."""
    findings = squawk_findings([(f.path, f.transactional) for f in files], config)
    versioned = [f for f in files if not f.repeatable]
    findings += [LintFinding(file=f.path.name, line=1, rule="missing-down",
                             message=f"no down file: write {f.path.stem}.down.sql beside it (what undoes it; "
                                     "comments only if there is nothing to undo)")
                 for f in versioned if f.down is None]
    downs = [f.down for f in versioned if f.down is not None and f.down.statements]
    findings += squawk_findings([(d.path, d.transactional) for d in downs], down_config or config)
    order = {name: i for i, f in enumerate(files) for name in (f.path.name, f"{f.path.stem}.down.sql")}
    return sorted(findings, key=lambda f: (order.get(f.file, 0), f.line))
