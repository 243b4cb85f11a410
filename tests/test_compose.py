"""monitoring/docker-compose.yml, tested as far as a machine without a Docker engine allows."""

from __future__ import annotations

import re

import yaml

from pg_ops.engine.paths import monitoring_dir

COMPOSE = monitoring_dir() / "docker-compose.yml"
SERVICES = {"dagster-postgres", "pg-ops-code", "dagster-webserver", "dagster-daemon",
            "postgres-exporter", "prometheus", "pushgateway", "alertmanager", "grafana"}


def test_every_service_is_pinned_and_health_checked() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    assert set(compose["services"]) == SERVICES
    for name, service in compose["services"].items():
        image, _, tag = service["image"].rpartition(":")
        assert image and re.fullmatch(r"v?\d+\.\d+(\.\d+)?", tag), f"{name}: {service['image']} is not pinned"
        assert service["healthcheck"]["test"], name


def test_every_mounted_file_and_folder_exists() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    mounts = [volume.split(":")[0] for service in compose["services"].values() for volume in service.get("volumes", [])
              if volume.startswith("./")]
    assert len(mounts) >= 6
    for mount in mounts:
        assert (monitoring_dir() / mount).exists(), mount


def test_secrets_come_only_from_the_environment() -> None:
    text = COMPOSE.read_text()
    compose = yaml.safe_load(text)
    # $${X} is the container's own variable (compose's escape), not one compose reads from .env
    variables = set(re.findall(r"(?<!\$)\$\{(\w+)", text)) | {s["environment"] for s in compose["secrets"].values()}
    documented = set(re.findall(r"^(\w+)=", (monitoring_dir() / "env.example").read_text(), re.MULTILINE))
    assert variables <= documented, sorted(variables - documented)
    assert not re.search(r"(?i)(password|secret|token)[ \t]*[:=][ \t]*['\"]?(?!\$\{)[A-Za-z0-9]{6,}", text)
    # Alertmanager reads its secrets from the files the compose secrets become
    alertmanager = (monitoring_dir() / "alertmanager" / "alertmanager.yml").read_text()
    for secret in compose["services"]["alertmanager"]["secrets"]:
        assert f"/run/secrets/{secret}" in alertmanager


def test_prometheus_keeps_90_days() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    assert "--storage.tsdb.retention.time=90d" in compose["services"]["prometheus"]["command"]
