"""Checking the monitoring stack's files with the real tools: promtool and amtool.

Each failure is refused with the tool's own message, in one line.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from pg_ops.errors import PgOpsError

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
