"""The Dagster code location: it loads, the preflight asset reports and fails as it should, secrets stay secret."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._serdes import serialize_value

from pg_ops.definitions import defs
from pg_ops.defs.preflight import PreflightConfig, preflight
from pg_ops.defs.resources import PostgresTarget
from pg_ops.local import dagster_home
from pg_ops.local.sandbox import DAGSTER_DB, SandboxInfo
from tests import servers
from tests.cli import REPO, pg_ops

SECRET = "Dagster-secret-4411"


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as test_instance:
        yield test_instance


def test_definitions_load_with_the_rollout_job() -> None:
    dg.Definitions.validate_loadable(defs)
    assert dg.AssetKey("preflight") in defs.resolve_all_asset_keys()


@pytest.mark.parametrize("dsn, tag", [
    ("postgresql://deployer:S3cret-pw@db.internal:6432/app", "deployer@db.internal:6432/app"),
    ("host=10.1.2.3 user=ops password=S3cret-pw dbname=orders", "ops@10.1.2.3:5432/orders"),
    ("", "unset")])
def test_rollout_runs_carry_their_target_without_its_password(dsn: str, tag: str) -> None:
    """The run coordinator keys its one-rollout-per-database limit on this tag, read when the code loads."""
    loaded = subprocess.run([sys.executable, "-c", "from pg_ops.definitions import defs; "
                             "print(defs.resolve_job_def('rollout_job').tags['pg_ops/database'])"],
                            env={**os.environ, "PG_OPS_DSN": dsn}, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == tag and "S3cret" not in loaded.stdout + loaded.stderr


def _instance_env(pg: SandboxInfo) -> dict[str, str]:
    return {"DAGSTER_HOME": str(dagster_home.prepare()), "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(pg.port), "DAGSTER_PG_USER": "postgres", "DAGSTER_PG_PASSWORD": "",
            "DAGSTER_PG_DB": DAGSTER_DB}


def test_workspace_and_dg_both_load_pg_ops_definitions(pg: SandboxInfo) -> None:
    dg_project = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["dg"]["project"]
    assert dg_project["code_location_target_module"] == "pg_ops.definitions"
    result = subprocess.run([str(Path(sys.executable).parent / "dagster"), "definitions", "validate",
                             "-w", "workspace.yaml"], cwd=REPO, capture_output=True, text=True, check=False,
                            env={**os.environ, **_instance_env(pg)}, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "pg_ops" in result.stdout + result.stderr


def test_preflight_asset_metadata(demo_db: str, instance: dg.DagsterInstance) -> None:
    result = dg.materialize([preflight], resources={"target": PostgresTarget(dsn=demo_db)}, instance=instance)
    assert result.success
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert str(metadata["server_version"].value).startswith("PostgreSQL 15")
    assert metadata["database_size_bytes"].value > 1_000_000
    checks = {r.data["check"]: r.data["status"] for r in metadata["checks"].value.records}  # type: ignore[union-attr]
    assert checks == dict.fromkeys(["server_version", "pg_stat_statements", "track_functions", "privileges",
                                    "long_transactions", "free_disk", "platform_objects", "search_ranking"], "pass")
    settings = {r.data["name"] for r in metadata["settings"].value.records}  # type: ignore[union-attr]
    assert "shared_preload_libraries" in settings


def test_preflight_asset_fails_with_each_problem_on_one_line(demo_db: str, instance: dg.DagsterInstance) -> None:
    import time

    from pg_ops.engine.db import connect

    holder = connect(demo_db, autocommit=False)
    holder.execute("select 1")
    time.sleep(1.2)
    try:
        result = dg.materialize(
            [preflight], resources={"target": PostgresTarget(dsn=demo_db)}, instance=instance, raise_on_error=False,
            run_config=dg.RunConfig(ops={"preflight": PreflightConfig(long_transaction_seconds=1)}))
    finally:
        holder.rollback()
        holder.close()
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    message = failure.step_failure_data.error.message  # type: ignore[union-attr]
    assert "long_transactions:" in message and "CREATE INDEX CONCURRENTLY" in message
    assert message.strip().count("\n") == 0


def test_wrong_password_never_reaches_the_event_log(
    pg: SandboxInfo, demo_db: str, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    servers.create_login_role(pg, "deployer", "Right-" + SECRET)
    monkeypatch.setenv("PG_OPS_DSN", servers.role_dsn(pg, demo_db.rsplit("/", 1)[1], "deployer", SECRET))
    result = defs.resolve_job_def("rollout_job").execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    error = failure.step_failure_data.error  # type: ignore[union-attr]
    assert "password authentication failed for user \"deployer\"" in error.message
    assert "deployer@127.0.0.1" in error.message
    stored = [serialize_value(entry) for entry in instance.all_logs(result.run_id)]
    run = instance.get_run_by_id(result.run_id)
    assert stored and all(SECRET not in text for text in stored)
    assert SECRET not in serialize_value(run) and SECRET not in str(error.to_string())


def test_dsn_unset_names_the_variable(instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PG_OPS_DSN", raising=False)
    with pytest.raises(Exception, match="PG_OPS_DSN"):
        defs.resolve_job_def("rollout_job").execute_in_process(instance=instance)


def test_pg_ops_run_records_into_the_postgres_instance(pg: SandboxInfo, demo_db: str) -> None:
    """dagster.yaml as shipped: storage in PostgreSQL (psycopg2 scheme), queued runs, one per database."""
    env = {"PG_OPS_DSN": demo_db, "MONITORING_PASSWORD": "Cli-test-monitor-2", **_instance_env(pg)}
    result = pg_ops("run", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "SUCCESS" in result.stdout and "materialized preflight" in result.stdout
    assert "materialized monitoring_schema" in result.stdout and "Cli-test-monitor-2" not in result.stdout
    run_id = result.stdout.split("run ", 1)[1].split(":", 1)[0]

    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with dg.DagsterInstance.get() as stored:
            run = stored.get_run_by_id(run_id)
            assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
            assert run.tags["pg_ops/database"] == demo_db.split("://", 1)[1]
            assert type(stored.run_coordinator).__name__ == "QueuedRunCoordinator"
            limits = stored.get_concurrency_config().run_queue_config.tag_concurrency_limits  # type: ignore[union-attr]
            assert {"key": "pg_ops/database", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
