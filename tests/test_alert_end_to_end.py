"""A fault in the database reaches a human: real exporter -> real Prometheus with pg_ops's rule ->
real Alertmanager -> a webhook receiver this test runs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from pg_ops.engine.db import as_uri, connection
from pg_ops.engine.monitoring import monitoring_schema
from pg_ops.engine.paths import monitoring_dir
from tests import servers


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts", received
    server.shutdown()
    server.server_close()


def test_an_invalid_index_pages_through_prometheus_and_alertmanager(
        demo_db: str, tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = webhook
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
            assert not any(a["labels"]["alertname"] == "InvalidIndex" for m in received for a in m["alerts"])
            with connection(demo_db) as conn:  # the fault: what a crashed concurrent build leaves behind
                conn.execute("create index e2e_broken on public.orders (updated_at)")
                conn.execute("update pg_index set indisvalid = false where indexrelid = 'e2e_broken'::regclass")
            try:
                deadline = time.monotonic() + 60
                fired: list[dict[str, Any]] = []
                while not fired and time.monotonic() < deadline:
                    time.sleep(0.5)
                    fired = [a for m in received for a in m["alerts"]
                             if a["labels"]["alertname"] == "InvalidIndex" and a["status"] == "firing"]
            finally:
                with connection(demo_db) as conn:
                    conn.execute("drop index e2e_broken")
    assert fired, f"no InvalidIndex alert reached the webhook; received {received}"
    alert = fired[0]
    assert alert["labels"]["severity"] == "critical" and alert["labels"]["alert_family"] == "InvalidIndex"
    assert alert["annotations"]["diagnose"] == "SELECT * FROM monitoring.invalid_indexes;"
    assert alert["annotations"]["summary"].startswith("1 INVALID index(es) on ")
