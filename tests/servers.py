"""Real servers for the tests, each started on 127.0.0.1 and stopped by its PID. No mocks of them.

PostgreSQL clusters are started through pg_ops.sandbox, the same code `pg-ops sandbox up` runs, each in
its own folder under /tmp: pytest's tmp_path is root-only (0700), and the server runs as `postgres`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from psycopg import sql

from pg_ops import sandbox
from pg_ops.daemons import alertmanager, daemon, postgres_exporter, prometheus, pushgateway  # noqa: F401 (for the tests)
from pg_ops.db import connection
from pg_ops.sandbox import SandboxInfo

# Small enough that the template loads in about a second: 2,000 orders, 5 restaurants, 400 customers.
TEST_SCALE = 0.002
TEST_SEED = 7


@contextmanager
def postgres_cluster(settings: dict[str, str] | None = None) -> Iterator[SandboxInfo]:
    root = Path(tempfile.mkdtemp(prefix="pgops-test-pg.", dir="/tmp"))
    try:
        info, _ = sandbox.up(port=sandbox.free_port(), root=root, settings=settings)
        yield info
    finally:
        sandbox.down(purge=True, root=root)
        shutil.rmtree(root, ignore_errors=True)


def create_database(info: SandboxInfo, name: str, template: str | None = None) -> str:
    with connection(info.dsn("postgres")) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        statement = sql.SQL("create database {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" template {}").format(sql.Identifier(template))
        conn.execute(statement)
    return info.dsn(name)


def drop_database(info: SandboxInfo, name: str) -> None:
    with connection(info.dsn("postgres")) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def create_login_role(info: SandboxInfo, name: str, password: str, superuser: bool = False) -> None:
    with connection(info.dsn("postgres")) as conn:
        exists = conn.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone()
        verb = sql.SQL("alter") if exists else sql.SQL("create")
        conn.execute(sql.SQL("{} role {} login {} password {}").format(
            verb, sql.Identifier(name), sql.SQL("superuser" if superuser else "nosuperuser"),
            sql.Literal(password)))


def role_dsn(info: SandboxInfo, dbname: str, user: str, password: str) -> str:
    return f"postgresql://{user}:{password}@127.0.0.1:{info.port}/{dbname}"


def prometheus_config(path: Path, *, exporter: str | None = None, gateway: str | None = None,
                      alerting_to: str | None = None, rules: Path | None = None) -> Path:
    """A prometheus.yml scraping every second what is given: the exporter's /metrics URL, the Pushgateway
    (honor_labels, as shipped), and alerting to Alertmanager with `rules`."""
    scrape = []
    if exporter:
        scrape.append({"job_name": "postgres", "static_configs": [
            {"targets": [exporter.removeprefix("http://").removesuffix("/metrics")]}]})
    if gateway:
        scrape.append({"job_name": "pushgateway", "honor_labels": True, "static_configs": [
            {"targets": [gateway.removeprefix("http://")]}]})
    config: dict[str, object] = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                                 "scrape_configs": scrape}
    if rules:
        config["rule_files"] = [str(rules)]
    if alerting_to:
        config["alerting"] = {"alertmanagers": [{"static_configs": [
            {"targets": [alerting_to.removeprefix("http://")]}]}]}
    path.write_text(yaml.safe_dump(config))
    return path


def wait_for_targets(url: str, expected: int, timeout_s: float = 60) -> None:
    """Prometheus publishes discovered targets at most every 5 s: wait until all are scraped and up."""
    deadline = time.monotonic() + timeout_s
    while True:
        with urllib.request.urlopen(f"{url}/api/v1/targets", timeout=5) as response:
            active = json.loads(response.read())["data"]["activeTargets"]
        if len(active) == expected and all(t["health"] == "up" for t in active):
            return
        assert time.monotonic() < deadline, f"targets not up after {timeout_s:.0f} s: {active}"
        time.sleep(0.5)
