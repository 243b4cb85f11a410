"""A fault in the database reaches a human: real exporter -> real Prometheus with pg_ops's rule ->
real Alertmanager -> a webhook receiver this test runs."""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from pg_ops.engine.db import as_uri, connection
from pg_ops.engine.monitoring import monitoring_schema
from pg_ops.engine.paths import monitoring_dir
from tests import servers


def test_an_invalid_index_pages_through_prometheus_and_alertmanager(demo_db: str, tmp_path: Path) -> None:
    with servers.webhook() as hook:
        _invalid_index_pages(demo_db, tmp_path, hook)


def _invalid_index_pages(demo_db: str, tmp_path: Path, hook: servers.Webhook) -> None:
    url = hook.url
    password = "E2e-monitor-pw-77"
    monitoring_schema.apply(demo_db, password)

    # pg_ops's rules as shipped; only InvalidIndex's 5-minute hold-down is shortened for the test.
    rules = yaml.safe_load((monitoring_dir() / "prometheus" / "alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == "InvalidIndex":
                rule["for"] = "2s"
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(rules))
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump({
        "route": {"receiver": "test_webhook", "group_by": ["alertname"], "group_wait": "1s",
                  "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "test_webhook", "webhook_configs": [{"url": url, "send_resolved": True}]}]}))

    with servers.postgres_exporter(as_uri(monitoring_schema.role_dsn(demo_db, password)),
                                   monitoring_dir() / "postgres_exporter" / "queries.yaml") as exporter, \
            servers.alertmanager(tmp_path / "alertmanager.yml") as am:
        servers.prometheus_config(tmp_path / "prometheus.yml", exporter=exporter, alerting_to=am,
                                  rules=tmp_path / "alerts.yml")
        with servers.prometheus(tmp_path / "prometheus.yml"):
            time.sleep(3)
            assert not hook.find("InvalidIndex")
            with connection(demo_db) as conn:  # the fault: what a crashed concurrent build leaves behind
                conn.execute("create index e2e_broken on public.orders (updated_at)")
                conn.execute("update pg_index set indisvalid = false where indexrelid = 'e2e_broken'::regclass")
            try:
                _, alert = hook.wait("InvalidIndex", timeout_s=60)
            finally:
                with connection(demo_db) as conn:
                    conn.execute("drop index e2e_broken")
    assert alert["labels"]["severity"] == "critical" and alert["labels"]["alert_family"] == "InvalidIndex"
    assert alert["annotations"]["diagnose"] == "SELECT * FROM monitoring.invalid_indexes;"
    assert alert["annotations"]["summary"].startswith("1 INVALID index(es) on ")
