"""One lint of a database: read the catalog, apply the rules, plan the evidence, count."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pglast

from pg_ops.engine import db
from pg_ops.engine.lint import catalog, evidence, rules
from pg_ops.engine.lint.rules import Finding


@dataclass
class LintReport:
    database: str
    findings: list[Finding]
    seconds: float
    notes: list[str]

    @property
    def open_findings(self) -> list[Finding]:
        return [f for f in self.findings if not f.accepted]

    def count(self, category: str | None = None, severity: str | None = None) -> int:
        return sum(1 for f in self.open_findings
                   if (category is None or f.category == category) and (severity is None or f.severity == severity))

    def counts(self) -> Counter[tuple[str, str, str]]:
        """Open findings per (rule, category, severity): what the metrics carry."""
        return Counter((f.rule, f.category, f.severity) for f in self.open_findings)

    @property
    def has_errors(self) -> bool:
        return self.count(severity=rules.ERROR) > 0

    def as_dict(self) -> dict[str, Any]:
        return {"database": self.database, "seconds": round(self.seconds, 3), "notes": self.notes,
                "counts": {sev: self.count(severity=sev) for sev in rules.SEVERITY_ORDER},
                "findings": [f.as_dict() for f in self.findings]}

    def lines(self) -> list[str]:
        out = []
        for f in self.findings:
            mark = "accepted" if f.accepted else f.severity.upper()
            out.append(f"{mark:8} {f.category:11} {f.rule}: {f.object}")
            out.append(f"         why: {f.why}")
            out.append(f"         fix: {f.fix}")
            if f.evidence:
                out.append(f"         plan: {f.evidence}")
        out.extend(f"note: {n}" for n in self.notes)
        out.append(self.summary())
        return out

    def summary(self) -> str:
        accepted = len(self.findings) - len(self.open_findings)
        return (f"{self.database}: {self.count(severity=rules.ERROR)} errors, {self.count(severity=rules.WARN)} "
                f"warnings, {self.count(severity=rules.INFO)} notices ({self.count(rules.PERFORMANCE)} performance, "
                f"{self.count(rules.SECURITY)} security"
                + (f"; {accepted} accepted" if accepted else "") + f") in {self.seconds:.2f} s")


def run(target: db.Target | str, exposed_schemas: tuple[str, ...] | None = None,
        with_evidence: bool = True, unused_after_days: float = 7.0, bloat_min_bytes: int = 10 * 2**20
        ) -> LintReport:
    """Lint the database: read-only, every transaction rolled back."""
    started = time.perf_counter()
    with db.connection(target, purpose="lint", autocommit=False) as conn:
        read = catalog.read(conn, exposed_schemas)
        replays = _skip_replays(read)
        found = rules.findings(read, unused_after_days=unused_after_days, bloat_min_bytes=bloat_min_bytes)
        if with_evidence:
            evidence.attach(conn, found)
    notes = [n for n in (read.statements_note, replays) if n]
    return LintReport(db.describe(target), found, time.perf_counter() - started, notes)


def pg_ops_replays() -> set[str]:
    """Fingerprints of the statements pg_ops' own benchmark sends (sql/benchmarks, both forms)."""
    from pg_ops.engine.proof import suite

    return {pglast.fingerprint(statement) for query in suite.load() + suite.load(baseline=True)
            for statement in query.statements}


def _skip_replays(read: catalog.Catalog) -> str:
    """Leave out the statements pg_ops' own benchmark sends: they replay the app's queries before and after the
    rollout, and pg_stat_statements keeps the before forms long after the app stopped sending them."""
    replays = pg_ops_replays()
    kept = []
    for statement in read.statements:
        try:
            replayed = pglast.fingerprint(statement.query) in replays
        except pglast.parser.ParseError:
            replayed = False
        if not replayed:
            kept.append(statement)
    skipped = len(read.statements) - len(kept)
    read.statements = kept
    return (f"{skipped} statements of pg_ops' own benchmark (sql/benchmarks) were not judged: an app that sends "
            "exactly these shares their pg_stat_statements entries") if skipped else ""


def push(url: str, database: str, report: LintReport, timeout_s: float = 5.0) -> None:
    """The report's counts and open security findings to a Pushgateway."""
    from pg_ops.engine.monitoring import push as pushing

    pushing.push_lint(url, database, report.counts(),
                      [(r.name, r.category, r.severity) for r in rules.RULES.values()],
                      [(f.rule, f.object) for f in report.open_findings if f.category == rules.SECURITY],
                      report.seconds, timeout_s)
