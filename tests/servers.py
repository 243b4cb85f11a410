"""Real servers for the tests, each started on 127.0.0.1 and stopped by its PID. No mocks of them.

PostgreSQL clusters are started through pg_ops.local.sandbox, the same code `pg-ops sandbox up` runs, each in
its own folder under /tmp: pytest's tmp_path is root-only (0700), and the server runs as `postgres`.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from psycopg import sql

from pg_ops.engine.db import connect, connection
from pg_ops.engine.pooler.deploy import LivePooler, SmokeLogin
from pg_ops.local import pooler, sandbox
from pg_ops.local.daemons import alertmanager, daemon, postgres_exporter, prometheus, pushgateway  # noqa: F401 (for the tests)
from pg_ops.local.sandbox import SandboxInfo

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


@contextmanager
def placing_orders(dsn: str, per_second: float | None = None) -> Iterator[None]:
    """The application placing orders as fast as one session can (or `per_second`, when measurements share
    the machine's two cores), for as long as the block runs."""
    stop = threading.Event()
    pause = 1 / per_second if per_second else 0.0

    def place() -> None:
        with connection(dsn) as conn:
            while not (stop.wait(pause) if pause else stop.is_set()):
                conn.execute("insert into public.orders (id, customer_id, restaurant_id, status, subtotal, "
                             "delivery_fee, total_amount, delivery_address) select gen_random_uuid(), "
                             "(select id from public.profiles where role = 'customer' order by id limit 1), "
                             "(select id from public.restaurants order by id limit 1), 'pending', 1, 1, 2, 'x'")
    writer = threading.Thread(target=place)
    writer.start()
    try:
        yield
    finally:
        stop.set()
        writer.join()


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
                      alerting_to: str | None = None, rules: Path | None = None, interval: str = "1s") -> Path:
    """A prometheus.yml scraping every `interval` what is given: the exporter's /metrics URL, the Pushgateway
    (honor_labels, as shipped), and alerting to Alertmanager with `rules`."""
    scrape = []
    if exporter:
        scrape.append({"job_name": "postgres", "static_configs": [
            {"targets": [exporter.removeprefix("http://").removesuffix("/metrics")]}]})
    if gateway:
        scrape.append({"job_name": "pushgateway", "honor_labels": True, "static_configs": [
            {"targets": [gateway.removeprefix("http://")]}]})
    config: dict[str, object] = {"global": {"scrape_interval": interval, "evaluation_interval": interval},
                                 "scrape_configs": scrape}
    if rules:
        config["rule_files"] = [str(rules)]
    if alerting_to:
        config["alerting"] = {"alertmanagers": [{"static_configs": [
            {"targets": [alerting_to.removeprefix("http://")]}]}]}
    path.write_text(yaml.safe_dump(config))
    return path


@contextmanager
def lock_queue(dsn: str, waiters: int = 1, table: str = "public.products") -> Iterator[int]:
    """A session idle in a transaction holding an ACCESS EXCLUSIVE lock on `table`, and `waiters` sessions
    queued behind it; yields the holder's pid. The holder rolls back at the end, releasing the queue."""
    holder = connect(dsn, autocommit=False, application_name="test lock holder")
    threads: list[threading.Thread] = []
    try:
        holder.execute(sql.SQL("lock table {} in access exclusive mode").format(
            sql.Identifier(*table.split("."))))
        for _ in range(waiters):
            def wait() -> None:
                with connection(dsn, application_name="test lock waiter") as waiter:
                    waiter.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(*table.split("."))))
            threads.append(threading.Thread(target=wait, daemon=True))
            threads[-1].start()
        with connection(dsn) as probe:
            deadline = time.monotonic() + 10
            while probe.execute("select count(*) as n from pg_stat_activity where wait_event_type = 'Lock' and "
                                "application_name = 'test lock waiter'").fetchone() != {"n": waiters}:
                assert time.monotonic() < deadline, "the waiters never queued"
                time.sleep(0.05)
        yield holder.info.backend_pid
    finally:
        holder.rollback()
        holder.close()
        for thread in threads:
            thread.join(10)


_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def duration_ms(text: str) -> int:
    """A Prometheus duration ('90s', '5m', '1h30m') in milliseconds."""
    parts = re.findall(r"(\d+)(ms|s|m|h|d)", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"not a duration: {text}"
    return sum(int(n) * _UNITS_MS[u] for n, u in parts)


def rules_with_scaled_hold_downs(source: Path, target: Path, factor: float) -> dict[str, int]:
    """The shipped rules with every alert's `for:` multiplied by `factor`, and nothing else changed (the
    expressions, thresholds and windows are as shipped; promtool tests the real durations). Returns each
    alert's scaled hold-down in milliseconds."""
    rules = yaml.safe_load(source.read_text())
    scaled: dict[str, int] = {}
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                scaled[rule["alert"]] = round(duration_ms(str(rule.get("for", "0s"))) * factor)
                rule["for"] = f"{scaled[rule['alert']]}ms"
    target.write_text(yaml.safe_dump(rules, sort_keys=False))
    return scaled


def alertmanager_config(source: Path, target: Path, webhook_url: str) -> Path:
    """The shipped Alertmanager routing, grouping and inhibition, with every receiver replaced by a webhook
    and the waits shortened (the mail and Slack secrets do not exist here)."""
    config = yaml.safe_load(source.read_text())
    config.pop("global", None)
    config["receivers"] = [{"name": "webhook", "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}]
    route = config["route"]
    route.update(receiver="webhook", group_wait="0s", group_interval="1s", repeat_interval="1h")
    for child in route.get("routes", []):
        child["receiver"] = "webhook"
        child.pop("repeat_interval", None)
    target.write_text(yaml.safe_dump(config, sort_keys=False))
    return target


@dataclass
class Webhook:
    """Alertmanager's webhook notifications, as they arrive: (monotonic time, alert)."""

    url: str = ""
    received: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def find(self, alertname: str, status: str = "firing", after: float = 0.0,
             **labels: str) -> list[tuple[float, dict[str, Any]]]:
        return [(t, a) for t, a in list(self.received)
                if t >= after and a["status"] == status and a["labels"].get("alertname") == alertname
                and all(a["labels"].get(k) == v for k, v in labels.items())]

    def wait(self, alertname: str, status: str = "firing", after: float = 0.0, timeout_s: float = 60.0,
             **labels: str) -> tuple[float, dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while not (found := self.find(alertname, status, after, **labels)):
            assert time.monotonic() < deadline, (
                f"no {status} {alertname} {labels} within {timeout_s:.0f} s; received: "
                f"{[(a['labels'].get('alertname'), a['status']) for _, a in self.received]}")
            time.sleep(0.2)
        return found[0]


@contextmanager
def webhook() -> Iterator[Webhook]:
    hook = Webhook()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            message = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            now = time.monotonic()
            hook.received.extend((now, alert) for alert in message["alerts"])
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


def prometheus_alerts(url: str) -> list[dict[str, Any]]:
    """What Prometheus holds as pending or firing right now."""
    with urllib.request.urlopen(f"{url}/api/v1/alerts", timeout=5) as response:
        alerts: list[dict[str, Any]] = json.loads(response.read())["data"]["alerts"]
    return alerts


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


@contextmanager
def sandbox_pooler(dsn: str) -> Iterator[tuple[LivePooler, SmokeLogin]]:
    """The sandbox's PgBouncer (Debian's binary, session pooling) in front of the database of `dsn`; stopped
    by its PID afterwards."""
    root = Path(tempfile.mkdtemp(prefix="pg_ops_pooler_", dir="/tmp"))
    root.chmod(0o755)
    try:
        info, _ = pooler.up(dsn, root=root, port=sandbox.free_port())
        yield (LivePooler(ini=Path(info.ini), host="127.0.0.1", port=info.port, admin_user="pgbouncer_admin",
                          admin_password=info.admin_password),
               SmokeLogin(info.database, pooler.APP_USER, info.app_password))
    finally:
        pooler.down(root)
        shutil.rmtree(root, ignore_errors=True)
