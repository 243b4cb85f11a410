"""The rollout launched the way the Dagster UI launches it: GraphQL against a real `dagster dev`."""

from __future__ import annotations

import json
import os
import re
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


# and baseline_performance, shortened in the graph
ROLLOUT_ASSETS = ["preflight", "backup", "index_migrations", "policy_lint", "rls_policies", "rpc_functions",
                  "validation", "monitoring_schema", "monitoring_stack", "rollout_report"]


def screenshots() -> Path:
    """Where the browser test keeps its screenshots: PG_OPS_SCREENSHOTS (`make screenshots` points it at
    tests/screenshots, which the README shows), else .pg_ops/test-artifacts/ui."""
    folder = Path(os.environ.get("PG_OPS_SCREENSHOTS") or REPO / ".pg_ops" / "test-artifacts" / "ui")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's headless Chromium, driven through Debian's chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1600,1000",
                     f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _page(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.TAG_NAME, "body").text)


def _shows(driver: Any, *texts: str, timeout: float = 60) -> None:
    """Wait until the page shows every text (what a user waits for), or fail naming what is missing."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: all(t in _page(d) for t in texts))
    except TimeoutException:
        missing = [t for t in texts if t not in _page(driver)]
        raise AssertionError(f"{driver.current_url} never showed {missing}") from None


def _button(driver: Any, label: str) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, 60, poll_frequency=0.2).until(lambda d: next(
        (b for b in d.find_elements(By.TAG_NAME, "button")
         if b.text.strip() == label and b.is_displayed() and b.is_enabled()), None))


def _open(driver: Any, port: int, path: str, *texts: str) -> None:
    """Go to a page, wait for what it must show, and close Dagster's first-visit community dialog if it came."""
    from selenium.webdriver.common.by import By

    driver.get(f"http://127.0.0.1:{port}{path}")
    _shows(driver, *texts)
    for skip in [b for b in driver.find_elements(By.TAG_NAME, "button") if b.text.strip() == "Skip"]:
        if skip.is_displayed():
            skip.click()
            _shows(driver, *texts)


def _switch(driver: Any, port: int, kind: str, name: str) -> bool:
    """Whether a schedule's or sensor's on/off switch is on, as its page shows it."""
    from selenium.webdriver.common.by import By

    _open(driver, port, f"/locations/pg_ops/{kind}/{name}", name)
    boxes = driver.find_elements(By.CSS_SELECTOR, "input[type=checkbox]")
    assert len(boxes) == 1, f"{name}: {len(boxes)} switches on its page"
    return bool(boxes[0].is_selected())


def test_a_user_sees_the_rollout_launches_it_and_reads_the_result_in_a_browser(dagster_dev: int, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    folder = screenshots()
    # The lineage of the rollout group, with every asset.
    _open(browser, dagster_dev, "/locations/pg_ops/asset-groups/rollout", "Materialize all", *ROLLOUT_ASSETS)
    assert "basel" in _page(browser)  # baseline_performance, shortened in its node
    browser.save_screenshot(str(folder / "asset-graph.png"))
    # Their checks, where a user finds them: each asset's Checks tab.
    _open(browser, dagster_dev, "/assets/index_migrations?view=checks", "no_invalid_indexes", "intended_indexes_exist")
    _open(browser, dagster_dev, "/assets/validation?view=checks", "queries_meet_targets", "plans_use_expected_indexes",
          "functions_match_pandas", "search_ranking_matches_sql", "rls_unchanged", "no_regression")
    browser.save_screenshot(str(folder / "checks.png"))

    # Launch rollout_job with a click, as a user does, and follow the run it started.
    _open(browser, dagster_dev, "/locations/pg_ops/jobs/rollout_job", "Materialize all", "rollout_job")

    def run_links(driver: Any) -> set[str]:
        return {str(a.get_attribute("href")) for a in driver.find_elements(By.TAG_NAME, "a")
                if "/runs/" in (a.get_attribute("href") or "") and "?" not in (a.get_attribute("href") or "")}
    before = run_links(browser)
    _button(browser, "Materialize all").click()
    new_run = WebDriverWait(browser, 60, poll_frequency=0.2).until(lambda d: next(iter(run_links(d) - before), None))
    browser.get(new_run)

    def ended(driver: Any) -> str | None:
        tags = {e.text.strip() for e in driver.find_elements(By.XPATH, "//*[text()='Success' or text()='Failure']")}
        return "Success" if "Success" in tags else "Failure" if "Failure" in tags else None
    outcome = WebDriverWait(browser, 400, poll_frequency=1).until(ended)
    browser.save_screenshot(str(folder / "run.png"))
    assert outcome == "Success", f"the run launched from the UI ended in {outcome}: {new_run}"
    assert re.search(r"Run of\s+rollout_job", _page(browser)), _page(browser)[:300]

    # validation's before/after table, read from its page.
    _open(browser, dagster_dev, "/assets/validation", "comparison", "p95_before_ms", "p95_after_ms", "speedup_p95",
          "driver_orders", "analytics_dashboard", "search_word_rare")
    row = next(line for line in _page(browser).splitlines() if line.startswith("driver_orders "))
    assert re.search(r"\d+\.\d+x \d+\.\d+x \d+ / \d+$", row), row  # speed-ups p50 and p95, executions
    table = browser.find_element(By.XPATH, "//*[text()='comparison']")
    browser.execute_script("arguments[0].scrollIntoView({block: 'start'})", table)
    browser.save_screenshot(str(folder / "validation.png"))

    # The sensors and schedules, and their state.
    _open(browser, dagster_dev, "/automation", "monitoring_snapshot", "dead_runs", "nightly_validation",
          "restore_rehearsal_schedule", "pgbouncer_maintenance_schedule", "daily_report_schedule")
    browser.save_screenshot(str(folder / "automation.png"))
    assert _switch(browser, dagster_dev, "sensors", "monitoring_snapshot")
    assert _switch(browser, dagster_dev, "schedules", "nightly_validation")
    assert _switch(browser, dagster_dev, "schedules", "daily_report_schedule")  # PG_OPS_DSN is set
    assert not _switch(browser, dagster_dev, "schedules", "restore_rehearsal_schedule")  # no PG_OPS_DRILL_CRON
    assert not _switch(browser, dagster_dev, "schedules", "pgbouncer_maintenance_schedule")  # no PGBOUNCER_INI
