"""Checking the monitoring stack's files with the real tools: promtool and amtool.

Each failure is refused with the tool's own message, in one line.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import yaml

from pg_ops.engine.db import Target
from pg_ops.engine.errors import PgOpsError

# PromQL words that look like metric names but are not.
_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
             "inf", "nan"}


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        package = "prometheus-alertmanager" if name == "amtool" else "prometheus"
        raise PgOpsError(f"{name} not found; apt-get install {package}")
    return found


def _run(argv: list[str], what: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        detail = " | ".join(line.strip() for line in output.splitlines() if line.strip() and "Checking" not in line)
        raise PgOpsError(f"{what} failed: {detail[:600]}")
    return output


def check_prometheus_config(path: Path) -> str:
    """promtool check config (it also checks the rule files the config names)."""
    return _run([_tool("promtool"), "check", "config", str(path)], f"promtool check config {path.name}")


def check_rules(path: Path) -> str:
    return _run([_tool("promtool"), "check", "rules", str(path)], f"promtool check rules {path.name}")


def test_rules(path: Path) -> str:
    return _run([_tool("promtool"), "test", "rules", str(path)], f"promtool test rules {path.name}")


def check_alertmanager(path: Path) -> str:
    return _run([_tool("amtool"), "check-config", str(path)], f"amtool check-config {path.name}")


def rules(path: Path) -> list[dict[str, object]]:
    """The alerting rules of a rules file."""
    return [rule for rule in _all_rules(path) if "alert" in rule]


def recording_rules(path: Path) -> list[dict[str, object]]:
    return [rule for rule in _all_rules(path) if "record" in rule]


def _all_rules(path: Path) -> list[dict[str, object]]:
    return [rule for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers outside strings and label matchers that are
    neither functions nor keywords nor durations."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b\d+(?:ms|[smhdwy])\b", " ", text)  # durations (offset 1d)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        word = match.group(0)
        following = text[match.end():].lstrip()[:1]
        if following == "(" or word.lower() in _KEYWORDS or re.fullmatch(r"\d+[smhdwy]", word):
            continue
        if re.fullmatch(r"[0-9.e+]+", word):
            continue
        names.add(word)
    return names


@dataclass(frozen=True)
class Finding:
    component: str
    ok: bool
    detail: str


def exporter_queries_as_role(monitoring_dsn: Target | str, queries: Path) -> list[Finding]:
    """Every custom query of queries.yaml, run as the monitoring role, the way the exporter will."""
    from pg_ops.engine.monitoring.monitoring_schema import connect_as_role

    findings = []
    with connect_as_role(monitoring_dsn, purpose="stack check", statement_timeout_ms=10_000) as conn:
        for name, spec in yaml.safe_load(queries.read_text()).items():
            try:
                rows = conn.execute(spec["query"]).fetchall()
                findings.append(Finding(f"exporter query {name}", True, f"{len(rows)} row(s)"))
            except psycopg.Error as exc:
                findings.append(Finding(f"exporter query {name}", False, str(exc).strip().splitlines()[0]))
    return findings


def _get_json(url: str, timeout_s: float) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return json.loads(response.read())


def live_services(prometheus_url: str, alertmanager_url: str, pushgateway_url: str, exporter_url: str,
                  expected_alerts: set[str], timeout_s: float = 5.0) -> list[Finding]:
    """Each configured service checked on its own; one that is down is named and the rest still checked."""
    findings: list[Finding] = []

    def probe(component: str, check: Callable[[], Finding]) -> None:
        try:
            findings.append(check())
        except (OSError, ValueError, KeyError) as exc:
            reason = getattr(exc, "reason", exc)
            findings.append(Finding(component, False, f"unreachable: {reason}"))

    if prometheus_url:
        def targets() -> Finding:
            active = _get_json(f"{prometheus_url}/api/v1/targets", timeout_s)["data"]["activeTargets"]
            down = [f"{t['labels'].get('job')} {t['scrapeUrl']} ({t['health']})" for t in active if t["health"] != "up"]
            return Finding("prometheus targets", bool(active) and not down,
                           "; ".join(down) or f"{len(active)} target(s) up")

        def loaded_rules() -> Finding:
            groups = _get_json(f"{prometheus_url}/api/v1/rules", timeout_s)["data"]["groups"]
            loaded = {r["name"] for g in groups for r in g["rules"]}
            missing = sorted(expected_alerts - loaded)
            return Finding("prometheus rules", not missing,
                           f"missing: {', '.join(missing[:5])}" if missing else f"{len(loaded)} rules loaded")

        probe("prometheus targets", targets)
        probe("prometheus rules", loaded_rules)
    def ready(component: str, url: str) -> Callable[[], Finding]:
        def check() -> Finding:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=timeout_s) as response:
                return Finding(component, response.status == 200, "ready")
        return check

    for component, url in (("alertmanager", alertmanager_url), ("pushgateway", pushgateway_url)):
        if url:
            probe(component, ready(component, url))
    if exporter_url:
        def exporter() -> Finding:
            with urllib.request.urlopen(exporter_url, timeout=timeout_s) as response:
                text = response.read().decode()
            errors = re.search(r"^pg_exporter_last_scrape_error (\S+)$", text, re.MULTILINE)
            ok = "pg_up 1" in text and errors is not None and float(errors.group(1)) == 0
            return Finding("postgres_exporter", ok, "scraping without errors" if ok else "pg_up or scrape errors")

        probe("postgres_exporter", exporter)
    return findings


def check_stack(folder: Path, monitoring_dsn: Target | str, prometheus_url: str = "", alertmanager_url: str = "",
                pushgateway_url: str = "", exporter_url: str = "") -> list[Finding]:
    """Everything the monitoring_stack asset proves, each check on its own: promtool and amtool on the files,
    every exporter query as the monitoring role, and the services whose URLs are given."""
    findings: list[Finding] = []
    for component, check in (
        ("prometheus.yml", lambda: check_prometheus_config(folder / "prometheus" / "prometheus.yml")),
        ("alert rules tests", lambda: test_rules(folder / "prometheus" / "alerts_test.yml")),
        ("alertmanager.yml", lambda: check_alertmanager(folder / "alertmanager" / "alertmanager.yml")),
    ):
        try:
            check()
            findings.append(Finding(component, True, "passes"))
        except PgOpsError as exc:
            findings.append(Finding(component, False, str(exc)))
    findings += exporter_queries_as_role(monitoring_dsn, folder / "postgres_exporter" / "queries.yaml")
    alerts = {str(r["alert"]) for r in rules(folder / "prometheus" / "alerts.yml")}
    findings += live_services(prometheus_url, alertmanager_url, pushgateway_url, exporter_url, alerts)
    return findings
