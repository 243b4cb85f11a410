"""Prometheus rules and Alertmanager routing, checked by promtool and amtool; every metric a rule reads
is proven to exist by a live exporter and a live Pushgateway."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest
import yaml

from pg_ops.engine.db import as_uri
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.monitoring import monitoring_schema, monitoring_stack, push, snapshot
from pg_ops.engine.paths import monitoring_dir
from pg_ops.engine.pooler import deploy
from pg_ops.engine.pooler import metrics as pooler_metrics
from pg_ops.engine.proof.benchmark import QueryResult, SuiteRun
from tests import servers

PROMETHEUS = monitoring_dir() / "prometheus"
ALERTS = PROMETHEUS / "alerts.yml"
RULES = monitoring_stack.rules(ALERTS)
RECORDS = monitoring_stack.recording_rules(ALERTS)


def test_prometheus_config_rules_and_alertmanager_pass_the_real_tools() -> None:
    assert "SUCCESS" in monitoring_stack.check_prometheus_config(PROMETHEUS / "prometheus.yml")
    assert f"SUCCESS: {len(RULES) + len(RECORDS)} rules found" in monitoring_stack.check_rules(ALERTS)
    assert len(RULES) == 51 and len(RECORDS) == 3
    assert "SUCCESS" in monitoring_stack.test_rules(PROMETHEUS / "alerts_test.yml")
    assert "SUCCESS" in monitoring_stack.check_alertmanager(monitoring_dir() / "alertmanager" / "alertmanager.yml")


def test_scrape_settings() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["global"]["scrape_interval"] == "15s"
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert {"postgres", "pushgateway"} <= set(jobs) and jobs["pushgateway"]["honor_labels"] is True


def test_at_least_30_rules_each_with_tier_family_and_runbook() -> None:
    assert len(RULES) >= 30
    names = [str(r["alert"]) for r in RULES]
    assert len(set(names)) == len(names)
    for rule in RULES:
        labels, notes = rule["labels"], rule["annotations"]
        assert labels["severity"] in ("warning", "critical") and labels["alert_family"], rule["alert"]  # type: ignore[index]
        assert all(len(str(notes[k])) > 10 for k in ("summary", "description", "diagnose", "action")), rule["alert"]  # type: ignore[index]
        assert re.match(r"(As [^:]+|Outside the database): ", str(notes["action"])), rule["alert"]  # type: ignore[index]
    plan = {"PostgreSQLDown", "VerySlowQueries", "VeryLowCacheHitRatio", "VerySlowRPCFunction", "TooManyConnections",
            "IdleInTransaction", "SlowQueries", "LowCacheHitRatio", "HighSequentialScans", "SlowRPCFunction",
            "HighTableBloat", "HighQueryLoad", "UnusedIndexes", "RapidDatabaseGrowth"}
    assert plan <= set(names)
    # twins: every family with a critical rule and a warning rule can be inhibited
    by_family: dict[str, set[str]] = {}
    for rule in RULES:
        by_family.setdefault(rule["labels"]["alert_family"], set()).add(rule["labels"]["severity"])  # type: ignore[index]
    assert sum(1 for tiers in by_family.values() if tiers == {"warning", "critical"}) >= 8


def test_every_rule_has_a_firing_a_quiet_and_a_hold_down_case() -> None:
    tests = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())["tests"]
    for rule in RULES:
        cases = [c for t in tests for c in t["alert_rule_test"] if c["alertname"] == rule["alert"]]
        assert any(c["exp_alerts"] for c in cases), f"{rule['alert']} never fires in a test"
        group = next(t for t in tests if any(c["alertname"] == rule["alert"] for c in t["alert_rule_test"]))
        assert len(group["input_series"]) >= 2, f"{rule['alert']} has no series that must stay quiet"
        if rule["for"] not in ("0m", "0s"):
            assert any(not c["exp_alerts"] for c in cases), f"{rule['alert']} never tests its for: hold-down"


def test_a_rules_file_that_fails_promtool_is_refused_with_promtools_message(tmp_path: Path) -> None:
    broken = tmp_path / "alerts.yml"
    broken.write_text("groups:\n- name: x\n  rules:\n  - alert: Broken\n    expr: rate(pg_up[5m]\n")
    with pytest.raises(PgOpsError, match=r"promtool check rules alerts.yml failed: .*(parse error|unclosed)"):
        monitoring_stack.check_rules(broken)


def test_missing_tool_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(PgOpsError, match="promtool not found; apt-get install prometheus"):
        monitoring_stack.check_rules(ALERTS)


def test_every_metric_the_rules_read_is_produced_live(demo_db: str) -> None:
    """The metric contract: rules that read metrics nobody produces never fire. Prove each one exists."""
    password = "Contract-pw-4242"
    monitoring_schema.apply(demo_db, password)
    produced: set[str] = {"up"}  # Prometheus's own, per target
    with servers.postgres_exporter(as_uri(monitoring_schema.role_dsn(demo_db, password)),
                                   monitoring_dir() / "postgres_exporter" / "queries.yaml") as url, \
            servers.lock_queue(demo_db):  # lock-wait metrics exist only while someone waits
        produced |= _names(url)
    with servers.pushgateway() as gateway:
        run = SuiteRun(run_id="contract", phase="test",
                       results=[QueryResult(name="driver_orders", file="driver_orders.sql", executions=1,
                                            timings_ms=[1.0])])
        push.push_validation(gateway, "demo", run, passed=True)
        push.push_backup(gateway, "demo", size_bytes=1, seconds=1.0, verified=True)
        push.push_restore_drill(gateway, "demo", restore_seconds=1.0, ratio=0.5, passed=True)
        push.push_lint(gateway, "demo", {}, [("rls_disabled_in_exposed_schema", "security", "error")],
                       [("rls_disabled_in_exposed_schema", "table public.t")], seconds=0.1)
        assert snapshot.once(snapshot.SnapshotTarget(demo_db, password, pushgateway_url=gateway)).pushed
        with servers.sandbox_pooler(demo_db) as (live, login):
            deploy.smoke(live.host, live.port, login)  # a client came through: the pool has its rows
            reading = pooler_metrics.read(live)
            assert reading.up and reading.pools
            pooler_metrics.push_reading(gateway, reading)
            pooler_metrics.push_deployment(gateway, deploy.Deployment(pooler=live.label, ini_path=str(live.ini),
                                                                      started=0.0, outcome="deployed"))
        produced |= _names(f"{gateway}/metrics")
    referenced: set[str] = set()
    for rule in RULES + RECORDS:
        referenced |= monitoring_stack.metric_names(str(rule["expr"]))
    produced |= {str(r["record"]) for r in RECORDS} | {"ALERTS"}  # Prometheus's own, from the rules
    assert referenced <= produced, sorted(referenced - produced)


def _names(url: str) -> set[str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return {m.group(1) for m in re.finditer(r"^([a-zA-Z_:][\w:]*)", response.read().decode(), re.MULTILINE)}

