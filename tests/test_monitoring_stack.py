"""The monitoring_stack asset against a running stack of real binaries, and with parts of it down."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest
import yaml

from pg_ops.defs.monitoring import MonitoringStackConfig, check_monitoring_stack
from pg_ops.defs.resources import PostgresTarget
from pg_ops.engine.db import as_uri
from pg_ops.engine.monitoring import monitoring_schema
from pg_ops.engine.paths import monitoring_dir
from tests import servers

PASSWORD = "Stack-monitor-pw-31"


@pytest.fixture(scope="module")
def stack(demo_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    monitoring_schema.apply(demo_db, PASSWORD)
    folder = tmp_path_factory.mktemp("stack")
    (folder / "alertmanager.yml").write_text(yaml.safe_dump({"route": {"receiver": "nobody"},
                                                             "receivers": [{"name": "nobody"}]}))
    with servers.postgres_exporter(as_uri(monitoring_schema.role_dsn(demo_db, PASSWORD)),
                                   monitoring_dir() / "postgres_exporter" / "queries.yaml") as exporter, \
            servers.pushgateway() as gateway, servers.alertmanager(folder / "alertmanager.yml") as am:
        servers.prometheus_config(folder / "prometheus.yml", exporter=exporter, gateway=gateway, alerting_to=am,
                                  rules=monitoring_dir() / "prometheus" / "alerts.yml")
        with servers.prometheus(folder / "prometheus.yml") as prometheus:
            servers.wait_for_targets(prometheus, expected=2)
            yield {"prometheus_url": prometheus, "alertmanager_url": am, "pushgateway_url": gateway,
                   "exporter_url": exporter}


def _materialize(dsn: str, urls: dict[str, str], monkeypatch: pytest.MonkeyPatch, password: str | None) -> Any:
    if password is None:
        monkeypatch.delenv("MONITORING_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("MONITORING_PASSWORD", password)
    with dg.instance_for_test() as instance:
        return dg.materialize([check_monitoring_stack], instance=instance, raise_on_error=False,
                              resources={"target": PostgresTarget(dsn=dsn)},
                              run_config=dg.RunConfig(ops={"monitoring_stack": MonitoringStackConfig(**urls)}))


def _failure(result: Any) -> str:
    [event] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    return str(event.step_failure_data.error.message)


def test_a_healthy_stack_passes_every_check(demo_db: str, stack: dict[str, str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    result = _materialize(demo_db, stack, monkeypatch, PASSWORD)
    assert result.success, _failure(result)
    [event] = result.get_asset_materialization_events()
    checks = {r.data["component"]: r.data["ok"] for r in event.materialization.metadata["checks"].value.records}
    assert all(checks.values())
    assert {"prometheus.yml", "alert rules tests", "alertmanager.yml", "prometheus targets", "prometheus rules",
            "alertmanager", "pushgateway", "postgres_exporter"} <= set(checks)
    assert sum(1 for c in checks if c.startswith("exporter query ")) >= 12
    assert event.materialization.metadata["not_checked"].value == "none"


def test_unreachable_services_are_named_and_the_others_still_checked(
        demo_db: str, stack: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    closed = f"http://127.0.0.1:{servers.sandbox.free_port()}"
    urls = {**stack, "prometheus_url": closed, "alertmanager_url": closed}
    result = _materialize(demo_db, urls, monkeypatch, PASSWORD)
    assert not result.success
    message = _failure(result)
    assert "prometheus targets: unreachable" in message and "prometheus rules: unreachable" in message
    assert "alertmanager: unreachable" in message
    assert "pushgateway" not in message and "postgres_exporter" not in message and "\n" not in message.strip()


def test_missing_monitoring_password_is_one_line(demo_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _materialize(demo_db, {}, monkeypatch, None)
    assert not result.success and "MONITORING_PASSWORD is not set" in _failure(result)
