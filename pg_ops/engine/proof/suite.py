"""The benchmark suite's files (sql/benchmarks/): directives, a parameters query, measured statements."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import pglast
from pglast import ast, visitors
from pglast.parser import ParseError

from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.paths import sql_dir

_DIRECTIVE = re.compile(r"^--\s*pg_ops:\s*([a-z_]+)\s*=\s*(\S+)\s*$")
KNOWN = {"role", "expect_index", "target_ms", "client", "baseline"}
CLIENTS = {"pandas_dashboard"}


@dataclass(frozen=True)
class SuiteQuery:
    name: str  # the file name without .sql / .baseline.sql
    path: Path
    baseline: bool
    description: str
    role: str
    expect_indexes: tuple[str, ...]
    target_ms: float | None
    client: str | None
    params_sql: str
    statements: tuple[str, ...]
    param_counts: tuple[int, ...]  # how many of $1..$n each measured statement uses
    baseline_file: str | None = None  # another query's .baseline.sql whose statements this one's baseline runs


class _MaxParam(visitors.Visitor):
    def __init__(self) -> None:
        self.highest = 0

    def visit_ParamRef(self, ancestors: object, node: ast.ParamRef) -> None:
        self.highest = max(self.highest, int(node.number or 0))


def _param_count(statement: str) -> int:
    counter = _MaxParam()
    counter(pglast.parse_sql(statement))
    return counter.highest


def parse(path: Path) -> SuiteQuery:
    text = path.read_text(encoding="utf-8")
    directives: dict[str, str] = {}
    description = ""
    for line in text.splitlines():
        if not line.startswith("--"):
            if line.strip():
                break
            continue
        match = _DIRECTIVE.match(line.strip())
        if match:
            key, value = match.groups()
            if key not in KNOWN:
                known = ", ".join(sorted(KNOWN))
                raise PgOpsError(f"suite file {path.name}: unknown directive '{key}' (known: {known})")
            directives[key] = value
        elif not description:
            description = line.lstrip("- ").strip()
    try:
        statements = tuple(s.strip() for s in pglast.split(text, with_parser=True))
    except ParseError as exc:
        where = re.search(r"at index (\d+)", str(exc))
        line_no = text.count("\n", 0, int(where.group(1))) + 1 if where else "?"
        raise PgOpsError(f"suite file {path.name}: SQL syntax error at line {line_no}: {exc.args[0]}") from None
    if len(statements) < 2:
        raise PgOpsError(f"suite file {path.name}: needs a parameters query and at least one measured statement")
    target = directives.get("target_ms")
    target_ms = None
    if target is not None:
        try:
            target_ms = float(target)
        except ValueError:
            raise PgOpsError(f"suite file {path.name}: target_ms must be a number of milliseconds, got {target!r}") \
                from None
    client = directives.get("client")
    if client is not None and client not in CLIENTS:
        raise PgOpsError(f"suite file {path.name}: client={client} is not one of {', '.join(sorted(CLIENTS))}")
    baseline = path.name.endswith(".baseline.sql")
    name = path.name.removesuffix(".baseline.sql").removesuffix(".sql")
    expect = directives.get("expect_index", "")
    return SuiteQuery(name=name, path=path, baseline=baseline, description=description,
                      role=directives.get("role", "authenticated"),
                      expect_indexes=tuple(i for i in expect.split(",") if i), target_ms=target_ms, client=client,
                      params_sql=statements[0], statements=statements[1:],
                      param_counts=tuple(_param_count(s) for s in statements[1:]),
                      baseline_file=directives.get("baseline"))


def _baseline(main: Path) -> SuiteQuery | None:
    """What the app ran for this query before the rollout: its own .baseline.sql, or the one its `baseline`
    directive names, run with this query's parameters (a search class shares the old search statement)."""
    own = main.with_name(main.name.removesuffix(".sql") + ".baseline.sql")
    if own.exists():
        return parse(own)
    query = parse(main)
    if query.baseline_file is None:
        return None
    shared = main.with_name(query.baseline_file)
    if not shared.name.endswith(".baseline.sql") or not shared.exists():
        raise PgOpsError(f"suite file {main.name}: baseline={query.baseline_file} is not a .baseline.sql file "
                         f"in {main.parent}")
    other = parse(shared)
    return replace(other, name=query.name, path=main, baseline=True, description=query.description,
                   params_sql=query.params_sql)


def load(folder: Path | None = None, baseline: bool = False) -> list[SuiteQuery]:
    """The suite: each query's main file, or for the baseline its .baseline.sql where one exists."""
    folder = folder or sql_dir() / "benchmarks"
    mains = sorted(p for p in folder.glob("*.sql") if not p.name.endswith(".baseline.sql"))
    if not mains:
        raise PgOpsError(f"no benchmark files in {folder}")
    chosen = []
    for main in mains:
        before = _baseline(main) if baseline else None
        chosen.append(before or parse(main))
    return chosen
