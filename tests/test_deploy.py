"""The production deployment, tested as far as a machine without a Docker engine allows: the instance loads
through Dagster's own loader with its DockerRunLauncher, and the compose project, the image and the
instance agree with each other."""

from __future__ import annotations

import re
import tomllib

import dagster as dg
import pytest
import yaml
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster_docker import DockerRunLauncher

from pg_ops.engine.paths import monitoring_dir
from pg_ops.local.sandbox import SandboxInfo
from tests import servers
from tests.cli import REPO

PRODUCTION = monitoring_dir() / "dagster"
COMPOSE = yaml.safe_load((monitoring_dir() / "docker-compose.yml").read_text())
DOCKERFILE = (monitoring_dir() / "pg_ops" / "Dockerfile").read_text()
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def test_the_production_instance_loads_with_its_docker_run_launcher(pg: SandboxInfo,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    servers.create_database(pg, "dagster_production")
    for name, value in {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(pg.port), "DAGSTER_PG_USER": "postgres",
                        "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": "dagster_production"}.items():
        monkeypatch.setenv(name, value)
    try:
        instance = dg.DagsterInstance.from_config(str(PRODUCTION))  # the loader `dagster-daemon` uses
        try:
            launcher = instance.run_launcher
            assert isinstance(launcher, DockerRunLauncher)
            assert launcher.networks == ["pg_ops"] and launcher.image is None  # each run: DAGSTER_CURRENT_IMAGE
            assert "PG_OPS_DSN" in launcher.env_vars and "PGPASSWORD" in launcher.env_vars
            assert launcher.container_kwargs["volumes"] == ["pg_ops_state:/var/lib/pg_ops"]
            assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
            assert instance.run_monitoring_enabled
            limits = instance.get_concurrency_config().run_queue_config
            assert limits is not None and limits.tag_concurrency_limits == [
                {"key": "pg_ops/database", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]
        finally:
            instance.dispose()
    finally:
        servers.drop_database(pg, "dagster_production")


def test_the_local_instance_differs_only_in_how_runs_are_launched() -> None:
    local = yaml.safe_load((REPO / "dagster.yaml").read_text())
    production = yaml.safe_load((PRODUCTION / "dagster.yaml").read_text())
    assert "run_launcher" not in local and production.pop("run_launcher")["class"] == "DockerRunLauncher"
    assert production == local


def test_every_variable_a_run_is_given_is_set_for_the_daemon() -> None:
    """DockerRunLauncher copies each named variable from the daemon's environment; one that is not set
    fails every launch ("Tried to load environment variable ...")."""
    launcher = yaml.safe_load((PRODUCTION / "dagster.yaml").read_text())["run_launcher"]["config"]
    daemon = COMPOSE["services"]["dagster-daemon"]["environment"]
    image_env = set(re.findall(r"(\w+)=", next(line for line in DOCKERFILE.splitlines() if line.startswith("ENV "))))
    missing = [name for name in launcher["env_vars"] if name not in daemon and name not in image_env]
    assert not missing, missing
    assert launcher["network"] == COMPOSE["networks"]["default"]["name"]
    assert launcher["container_kwargs"]["volumes"][0].split(":")[0] == COMPOSE["volumes"]["pg_ops_state"]["name"]


def test_the_code_server_webserver_daemon_and_runs_share_one_pinned_image() -> None:
    services = COMPOSE["services"]
    image = f"pg_ops:{VERSION}"
    assert {services[s]["image"] for s in ("pg-ops-code", "dagster-webserver", "dagster-daemon")} == {image}
    assert services["pg-ops-code"]["environment"]["DAGSTER_CURRENT_IMAGE"] == image
    build = services["pg-ops-code"]["build"]
    assert (monitoring_dir() / build["context"] / build["dockerfile"]).resolve() == \
        (monitoring_dir() / "pg_ops" / "Dockerfile").resolve()
    workspace = yaml.safe_load((PRODUCTION / "workspace.yaml").read_text())["load_from"][0]["grpc_server"]
    command = yaml.safe_load(re.search(r"^CMD (.*)$", DOCKERFILE, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert workspace["host"] == "pg-ops-code" and str(workspace["port"]) == command[command.index("-p") + 1]
    assert command[command.index("-m") + 1] == "pg_ops.definitions"
    assert workspace["location_name"] == command[command.index("--location-name") + 1] == "pg_ops"
    for service in ("dagster-webserver", "dagster-daemon"):
        assert "/opt/dagster/home/workspace.yaml" in services[service]["command"]
    assert "/var/run/docker.sock:/var/run/docker.sock" in services["dagster-daemon"]["volumes"]


def test_the_image_is_pinned_built_from_the_wheel_and_runs_as_a_user() -> None:
    bases = re.findall(r"^FROM (\S+)", DOCKERFILE, re.MULTILINE)
    assert bases and all(re.search(r":\d+\.\d+\.\d+-", base) for base in bases), bases
    assert "pip wheel" in DOCKERFILE and "pip install --no-cache-dir /wheels/pg_ops-" in DOCKERFILE
    users = re.findall(r"^USER (\S+)", DOCKERFILE, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    for line in re.findall(r"^COPY (?!--from)(?:--\S+ )?(.+) \S+$", DOCKERFILE, re.MULTILINE):
        for source in line.split():
            assert (REPO / source).exists(), f"the Dockerfile copies {source}, which does not exist"
    assert "ENV DAGSTER_HOME=/opt/dagster/home" in DOCKERFILE
    assert "COPY --chown=pg_ops monitoring/dagster/dagster.yaml monitoring/dagster/workspace.yaml /opt/dagster/home/" \
        in DOCKERFILE

