"""Migration files: their header directives, their statements (split by pglast), checksums, and lint.

A file is `sql/migrations/NNN_name.sql` (versioned, applied once, in order) or `sql/functions/name.sql`
(repeatable, applied again whenever its content changes). Directives are comment lines at the top:

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
from dataclasses import dataclass, field
from pathlib import Path

import pglast
from pglast import ast
from pglast.parser import ParseError

from pg_ops.engine.errors import PgOpsError

_DIRECTIVE = re.compile(r"^--\s*pg_ops:\s*([a-z_]+)\s*=\s*(\S+)\s*$")
_VERSIONED_NAME = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.sql$")
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


def parse(path: Path, version: str, name: str) -> MigrationFile:
    text = path.read_text(encoding="utf-8")
    directives = _directives(text, path)
    try:
        statements = tuple(s.strip() for s in pglast.split(text, with_parser=True))
        trees = pglast.parse_sql(text)
    except ParseError as exc:
        raise PgOpsError(f"{path.name}: SQL syntax error at {_line_of(text, str(exc))}: {exc.args[0]}") from None
    if not statements:
        raise PgOpsError(f"{path.name}: no SQL statement in the file")
    transaction = directives.get("transaction", "on")
    if transaction not in ("on", "off"):
        raise PgOpsError(f"{path.name}: 'pg_ops: transaction={transaction}' must be on or off")
    if "step" not in directives:
        raise PgOpsError(f"{path.name}: missing '-- pg_ops: step=<asset>' header line")
    builds = []
    for raw, statement in zip(trees, statements, strict=True):
        node = raw.stmt
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
                         index_builds=tuple(builds), when_available=directives.get("when_available"))


def discover(migrations_dir: Path | None, functions_dir: Path | None = None) -> list[MigrationFile]:
    """Versioned files in version order, then repeatable ones in name order."""
    found: list[MigrationFile] = []
    seen: dict[str, Path] = {}
    for path in sorted(migrations_dir.glob("*.sql")) if migrations_dir else []:
        match = _VERSIONED_NAME.match(path.name)
        if not match:
            raise PgOpsError(f"{path}: migration files are named NNN_name.sql (lowercase, digits, underscores)")
        version, name = match.groups()
        if version in seen:
            raise PgOpsError(f"{path.name} and {seen[version].name} share version {version}")
        seen[version] = path
        found.append(parse(path, version, name))
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


def lint(files: list[MigrationFile], config: Path | None) -> list[LintFinding]:
    """squawk's findings on the given files (the waived rules are in `config`).

    Files pg_ops runs inside a transaction are linted with --assume-in-transaction, as they will run.
    """
    findings: list[LintFinding] = []
    for in_transaction in (True, False):
        group = [f for f in files if f.transactional == in_transaction]
        if not group:
            continue
        argv = [squawk_binary(), "--reporter", "json", "--pg-version", "15"]
        if config is not None and config.is_file():
            argv += ["--config", str(config)]
        argv += ["--assume-in-transaction" if in_transaction else "--no-assume-in-transaction"]
        argv += [str(f.path) for f in group]
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
        try:
            raw = json.loads(result.stdout or "[]")
        except json.JSONDecodeError:
            raise PgOpsError(f"squawk failed: {(result.stderr or result.stdout).strip()[:300]}") from None
        findings += [LintFinding(file=Path(f["file"]).name, line=int(f["line"]) + 1, rule=f["rule_name"],
                                 message=f["message"]) for f in raw]
    order = {f.path.name: i for i, f in enumerate(files)}
    return sorted(findings, key=lambda f: (order.get(f.file, 0), f.line))
