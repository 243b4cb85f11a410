"""The Grafana dashboards: well formed, and every panel's query returns data from a live Prometheus that
scrapes the real exporter and the real Pushgateway."""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pg_ops.engine.db import as_uri, connection
from pg_ops.engine.migrations import migrate
from pg_ops.engine.monitoring import monitoring_schema, push, snapshot
from pg_ops.engine.paths import monitoring_dir
from pg_ops.engine.pooler import deploy
from pg_ops.engine.pooler import metrics as pooler_metrics
from pg_ops.engine.proof.benchmark import QueryResult, SuiteRun
from pg_ops.engine.proof.verdicts import call_functions
from tests import servers

DASHBOARDS = sorted((monitoring_dir() / "grafana" / "dashboards").glob("*.json"))


def _panels() -> list[tuple[str, dict[str, Any]]]:
    return [(path.name, panel) for path in DASHBOARDS for panel in json.loads(path.read_text())["panels"]]


def test_dashboards_are_well_formed() -> None:
    assert len(DASHBOARDS) >= 5
    boards = [json.loads(path.read_text()) for path in DASHBOARDS]
    uids = [board["uid"] for board in boards]
    assert len(set(uids)) == len(uids)
    for board in boards:
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
        ids = [panel["id"] for panel in board["panels"]]
        assert len(set(ids)) == len(ids) and board["panels"]
        for panel in board["panels"]:
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel["targets"] and all(t["expr"] for t in panel["targets"])
    provisioning = yaml.safe_load((monitoring_dir() / "grafana" / "provisioning" / "dashboards" / "pg_ops.yml")
                                  .read_text())
    assert provisioning["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


@pytest.fixture(scope="module")
def prometheus(demo_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A live stack over a rolled-out demo whose functions have been called, with pg_ops's pushes."""
    migrate.apply(demo_db, migrate.Settings.platform())
    with connection(demo_db) as conn:
        admin = conn.execute("select id from profiles where role = 'admin' limit 1").fetchone()
    end = dt.datetime.now(dt.UTC)
    call_functions(demo_db, admin["id"], end - dt.timedelta(hours=5), end, None)  # type: ignore[index]
    password = "Grafana-monitor-pw-8"
    monitoring_schema.apply(demo_db, password)
    folder: Path = tmp_path_factory.mktemp("grafana")
    with servers.postgres_exporter(as_uri(monitoring_schema.role_dsn(demo_db, password)),
                                   monitoring_dir() / "postgres_exporter" / "queries.yaml") as exporter, \
            servers.pushgateway() as gateway:
        run = SuiteRun("grafana", "test", [QueryResult(name="driver_orders", file="driver_orders.sql", executions=1,
                                                       timings_ms=[1.5])])
        push.push_validation(gateway, "demo", run, passed=True)
        push.push_backup(gateway, "demo", size_bytes=1000, seconds=1.0, verified=True)
        assert snapshot.once(snapshot.SnapshotTarget(demo_db, password, pushgateway_url=gateway)).pushed
        with servers.sandbox_pooler(demo_db) as (live, login):
            deploy.smoke(live.host, live.port, login)  # a client came through: the pool has its rows
            pooler_metrics.push_reading(gateway, pooler_metrics.read(live))
            pooler_metrics.push_deployment(gateway, deploy.Deployment(pooler=live.label, ini_path=str(live.ini),
                                                                      started=0.0, outcome="deployed"))
        servers.prometheus_config(folder / "prometheus.yml", exporter=exporter, gateway=gateway)
        with servers.prometheus(folder / "prometheus.yml") as url:
            servers.wait_for_targets(url, expected=2)
            time.sleep(3)  # a few samples, for rate()
            yield url



@pytest.mark.parametrize("board, panel", _panels(), ids=lambda x: x if isinstance(x, str) else x["title"])
def test_every_panel_returns_data(prometheus: str, board: str, panel: dict[str, Any]) -> None:
    for target in panel["targets"]:
        query = urllib.parse.urlencode({"query": target["expr"]})
        with urllib.request.urlopen(f"{prometheus}/api/v1/query?{query}", timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        assert body["data"]["result"], f"{board} / {panel['title']}: {target['expr']} returned no data"
