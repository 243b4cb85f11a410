"""The rollout launched the way the Dagster UI launches it: GraphQL against a real `dagster dev`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pg_ops.engine.db import connection, describe
from pg_ops.local import dagster_home, sandbox
from pg_ops.local.sandbox import DAGSTER_DB, SandboxInfo
from tests import servers
from tests.cli import REPO


def _graphql(port: int, query: str) -> dict[str, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        body: dict[str, Any] = json.loads(response.read())
    assert "errors" not in body, body
    return body["data"]


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    with servers.pushgateway() as url:
        yield url


@pytest.fixture(scope="module")
def dagster_dev(pg: SandboxInfo, demo_db: str, gateway: str) -> Iterator[int]:
    port = sandbox.free_port()
    env = {**os.environ, "PG_OPS_DSN": demo_db, "MONITORING_PASSWORD": "Ui-test-monitor-3",
           "PUSHGATEWAY_URL": gateway, "PG_OPS_SNAPSHOT_INTERVAL_S": "5",
           "DAGSTER_HOME": str(dagster_home.prepare()),
           "DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(pg.port), "DAGSTER_PG_USER": "postgres",
           "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": DAGSTER_DB}
    log = Path(env["DAGSTER_HOME"]) / "dagster-dev.log"
    # Its own session, so the whole process group (webserver, daemon, code server) stops on one signal.
    process = subprocess.Popen([str(Path(sys.executable).parent / "dagster"), "dev", "-w", "workspace.yaml",
                                "-h", "127.0.0.1", "-p", str(port)], cwd=REPO, env=env, start_new_session=True,
                               stdout=log.open("w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "dagster dev did not answer in 90 s"
                time.sleep(0.5)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_ui_lists_the_rollout_and_a_launched_run_succeeds(dagster_dev: int) -> None:
    nodes = _graphql(dagster_dev, "{ assetNodes { assetKey { path } } }")["assetNodes"]
    assert ["preflight"] in [node["assetKey"]["path"] for node in nodes]

    launched = _graphql(dagster_dev, """mutation { launchRun(executionParams: {
        selector: {repositoryLocationName: "pg_ops", repositoryName: "__repository__", jobName: "rollout_job"}
      }) { __typename ... on LaunchRunSuccess { run { runId status } } ... on PythonError { message } } }""")
    outcome = launched["launchRun"]
    assert outcome["__typename"] == "LaunchRunSuccess", outcome
    run_id = outcome["run"]["runId"]
    assert outcome["run"]["status"] == "QUEUED"  # the queued coordinator enforces one rollout per database

    deadline = time.monotonic() + 400  # the whole rollout, on a possibly busy 2-core machine
    status = "QUEUED"
    while status not in ("SUCCESS", "FAILURE", "CANCELED") and time.monotonic() < deadline:
        time.sleep(1)
        status = _graphql(dagster_dev, f'{{ runOrError(runId: "{run_id}") {{ ... on Run {{ status }} }} }}')[
            "runOrError"]["status"]
    assert status == "SUCCESS"


def test_the_daemon_ticks_the_snapshot_sensor_into_the_gateway_and_the_history(
        dagster_dev: int, demo_db: str, gateway: str) -> None:
    """After the rollout above installed the views: the real daemon evaluates monitoring_snapshot every 5 s."""
    query = """{ sensorOrError(sensorSelector: {repositoryLocationName: "pg_ops", repositoryName: "__repository__",
                   sensorName: "monitoring_snapshot"}) {
                 __typename ... on Sensor { sensorState { status ticks(limit: 20) { status skipReason } } } } }"""
    deadline = time.monotonic() + 60
    while True:
        sensor = _graphql(dagster_dev, query)["sensorOrError"]
        assert sensor["__typename"] == "Sensor" and sensor["sensorState"]["status"] == "RUNNING", sensor
        lines = [t["skipReason"] or "" for t in sensor["sensorState"]["ticks"]]
        done = [line for line in lines if "13/13 views" in line]
        if done:
            break
        assert time.monotonic() < deadline, f"no full snapshot in 60 s; ticks said: {lines}"
        time.sleep(1)
    assert done[0].startswith(f"snapshot of {describe(demo_db)}: 13/13 views in ") and "pushed " in done[0], done[0]
    assert done[0].endswith("history saved") and "\n" not in done[0]
    with urllib.request.urlopen(f"{gateway}/metrics", timeout=10) as response:
        assert 'job="pg_ops_snapshot"' in response.read().decode()
    with connection(demo_db) as conn:
        row = conn.execute("select count(*) as n, bool_and(pushed) as pushed from pgops.monitoring_snapshots "
                           "where views_read = 13").fetchone()
    assert row is not None and row["n"] >= 1 and row["pushed"]
