"""Debian's Prometheus daemons on loopback, each in a throwaway folder and stopped by its own PID.

Used by `make bench` (the snapshot against postgres_exporter, side by side) and by the tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from pg_ops.engine.errors import PgOpsError
from pg_ops.local.sandbox import free_port


@contextmanager
def daemon(argv: list[str], ready_url: str, log: Path, timeout_s: float = 30.0,
           env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """A foreground daemon, ready when `ready_url` answers 200, stopped by its own PID."""
    if shutil.which(argv[0]) is None:
        raise PgOpsError(f"{argv[0]} is not installed; `make test` or `make bench` installs Debian's package")
    process = subprocess.Popen(argv, stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True, env={**os.environ, **(env or {})})
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise PgOpsError(f"{argv[0]} exited with {process.returncode}: {log.read_text()[-300:].strip()}")
            try:
                with urllib.request.urlopen(ready_url, timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise PgOpsError(f"{argv[0]} not ready at {ready_url} after {timeout_s:.0f} s; see {log}")
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


class ServedURL(str):
    """A daemon's base URL that also knows the daemon's PID (tests pause it to make it slow)."""

    pid: int


@contextmanager
def served(name: str, argv: Callable[[Path, int], list[str]], ready_path: str,
           env: dict[str, str] | None = None, port: int | None = None) -> Iterator[ServedURL]:
    """A daemon on a loopback port (a free one unless given), with a throwaway folder; yields its base URL."""
    folder = Path(tempfile.mkdtemp(prefix=f"pgops-{name}."))
    port = port or free_port()
    url = ServedURL(f"http://127.0.0.1:{port}")
    try:
        with daemon(argv(folder, port), url + ready_path, folder / f"{name}.log", env=env) as process:
            url.pid = process.pid
            yield url
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def pushgateway(port: int | None = None) -> AbstractContextManager[ServedURL]:
    """prometheus-pushgateway, in memory only; yields its URL. Debian's build persists to
    /var/lib/prometheus/pushgateway.data unless told otherwise, which would share groups between runs."""
    return served("pushgateway", lambda _, port: ["prometheus-pushgateway", f"--web.listen-address=127.0.0.1:{port}",
                                                  "--persistence.file="], "/-/ready", port=port)


@contextmanager
def postgres_exporter(dsn: str, queries: Path, only_queries: bool = False) -> Iterator[ServedURL]:
    """prometheus-postgres-exporter connected with `dsn`, running `queries` (and, unless `only_queries`,
    its own default metrics and settings); yields its /metrics URL."""
    env = {"DATA_SOURCE_NAME": dsn + ("&" if "?" in dsn else "?") + "sslmode=disable"}
    only = ["--disable-default-metrics", "--disable-settings-metrics"] if only_queries else []
    with served("exporter", lambda _, port: ["prometheus-postgres-exporter", f"--web.listen-address=127.0.0.1:{port}",
                                             f"--extend.query-path={queries}", *only], "/metrics", env=env) as url:
        metrics = ServedURL(url + "/metrics")
        metrics.pid = url.pid
        yield metrics


def alertmanager(config: Path) -> AbstractContextManager[str]:
    """prometheus-alertmanager, gossip off; yields its URL."""
    return served("alertmanager", lambda folder, port: [
        "prometheus-alertmanager", f"--config.file={config}", f"--storage.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="], "/-/ready")


def prometheus(config: Path) -> AbstractContextManager[str]:
    """prometheus with its own throwaway TSDB; yields its URL."""
    return served("prometheus", lambda folder, port: [
        "prometheus", f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle"], "/-/ready")
