"""Real servers for the tests, each started on 127.0.0.1 and stopped by its PID. No mocks of them.

PostgreSQL clusters are started through pg_ops.sandbox, the same code `pg-ops sandbox up` runs, each in
its own folder under /tmp: pytest's tmp_path is root-only (0700), and the server runs as `postgres`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from psycopg import sql

from pg_ops import sandbox
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


@contextmanager
def daemon(argv: list[str], ready_url: str, log: Path, timeout_s: float = 30.0,
           env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """A foreground daemon on loopback, ready when `ready_url` answers 200, stopped by its own PID."""
    process = subprocess.Popen(argv, stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True, env={**os.environ, **(env or {})})
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited with {process.returncode}: {log.read_text()[-500:]}")
            try:
                with urllib.request.urlopen(ready_url, timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{argv[0]} not ready at {ready_url} after {timeout_s:.0f} s")
            time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def _served(name: str, argv: Callable[[Path, int], list[str]], ready_path: str,
            env: dict[str, str] | None = None) -> Iterator[str]:
    """A Debian daemon on a free loopback port, with a throwaway folder; yields its base URL."""
    folder = Path(tempfile.mkdtemp(prefix=f"pgops-test-{name}."))
    port = sandbox.free_port()
    url = f"http://127.0.0.1:{port}"
    try:
        with daemon(argv(folder, port), url + ready_path, folder / f"{name}.log", env=env):
            yield url
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def pushgateway() -> AbstractContextManager[str]:
    """The real prometheus-pushgateway; yields its URL."""
    return _served("pushgateway", lambda _, port: ["prometheus-pushgateway",
                                                   f"--web.listen-address=127.0.0.1:{port}"], "/-/ready")


@contextmanager
def postgres_exporter(dsn: str, queries: Path) -> Iterator[str]:
    """The real prometheus-postgres-exporter, connected with `dsn`; yields its /metrics URL."""
    env = {"DATA_SOURCE_NAME": dsn + ("&" if "?" in dsn else "?") + "sslmode=disable"}
    with _served("exporter", lambda _, port: ["prometheus-postgres-exporter", f"--web.listen-address=127.0.0.1:{port}",
                                              f"--extend.query-path={queries}"], "/metrics", env=env) as url:
        yield url + "/metrics"


def alertmanager(config: Path) -> AbstractContextManager[str]:
    """The real prometheus-alertmanager, gossip off; yields its URL."""
    return _served("alertmanager", lambda folder, port: [
        "prometheus-alertmanager", f"--config.file={config}", f"--storage.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="], "/-/ready")


def prometheus(config: Path) -> AbstractContextManager[str]:
    """The real prometheus with its own throwaway TSDB; yields its URL."""
    return _served("prometheus", lambda folder, port: [
        "prometheus", f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle"], "/-/ready")


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
