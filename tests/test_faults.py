"""A rollout broken as an operator breaks one at 2 a.m.: killed runs, crashes, the wrong database, typos.

Each test failed before its fix. Between them they are the fault figures of issue 10: every kill point
converges with a plain rerun, and every bad input is one line, a non-zero exit, and nothing changed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pg_ops.engine import preflight
from pg_ops.engine.db import connect, connection
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.migrations import ledger, migrate
from pg_ops.engine.poller import Poller
from pg_ops.local import dagster_home, sandbox
from pg_ops.local.sandbox import DAGSTER_DB, SandboxInfo
from tests import servers
from tests.cli import REPO, one_line_error, pg_ops
from tests.test_migrate import settings, wait_for, write

SECRET = "Faults-test-secret-7"


def _fresh(pg: SandboxInfo, demo_template: str, name: str) -> str:
    return servers.create_database(pg, name, template=demo_template)


def _builds(dsn: str) -> int:
    with connection(dsn) as conn:
        row = conn.execute("select count(*) as n from pg_stat_progress_create_index").fetchone()
    return int(row["n"]) if row else 0


def _snapshot_holder(dsn: str) -> psycopg.Connection[Any]:
    """An application transaction holding a snapshot: CREATE INDEX CONCURRENTLY waits for it to end."""
    holder = connect(dsn, autocommit=False, application_name="test snapshot holder")
    holder.execute("set transaction isolation level repeatable read")
    holder.execute("select count(*) from public.orders")
    return holder


def schema_dump(info: SandboxInfo, dbname: str) -> str:
    dump = subprocess.run([f"{info.bindir}/pg_dump", "--schema-only", "-h", "127.0.0.1", "-p", str(info.port),
                           "-U", "postgres", dbname], capture_output=True, text=True, check=True).stdout
    # pg_dump 15.14+ brackets the dump with a random \restrict key
    return "\n".join(line for line in dump.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))


def fingerprint(info: SandboxInfo, dsn: str) -> str:
    """Everything a failed command must leave alone: the schema (pg_dump, the ledger included) and row counts."""
    dump = schema_dump(info, dsn.rsplit("/", 1)[1])
    with connection(dsn) as conn:
        counts = [str(conn.execute(f"select count(*) as n from {table}").fetchone())
                  for table in ("public.orders", "public.order_items", "public.products", "auth.users")]
        if conn.execute("select to_regclass('pgops.schema_migrations') as t").fetchone() != {"t": None}:
            counts += [str(r) for r in conn.execute("select version, sha256, outcome from pgops.schema_migrations "
                                                    "order by version")]
    return dump + "\n".join(counts)


# --- 1. A killed run ------------------------------------------------------------------------------------------

def _dagster_env(pg: SandboxInfo, dsn: str) -> dict[str, str]:
    return {"PG_OPS_DSN": dsn, "DAGSTER_HOME": str(dagster_home.prepare()), "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(pg.port), "DAGSTER_PG_USER": "postgres", "DAGSTER_PG_PASSWORD": "",
            "DAGSTER_PG_DB": DAGSTER_DB}


def test_a_killed_run_is_failed_by_the_next_one_which_then_goes_through(pg: SandboxInfo, demo_template: str,
                                                                        tmp_path: Path) -> None:
    """kill -9 while a build waits: the run stayed STARTED with its pg_ddl slot and every later run hung."""
    dsn = _fresh(pg, demo_template, "t_faults_killed_run")
    env = {**os.environ, **_dagster_env(pg, dsn)}
    holder = _snapshot_holder(dsn)
    log = tmp_path / "first.log"
    first = subprocess.Popen([sys.executable, "-m", "pg_ops.cli", "run", "--select", "index_migrations"],
                             cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: _builds(dsn) == 1, timeout=120)
        # The watchdog names the phase and the session the build waits for (it printed nothing before).
        wait_for(lambda: f"waiting for pid {holder.info.backend_pid}" in log.read_text(), timeout=30)
        assert "waiting for old snapshots" in log.read_text()
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        # The orphaned build notices its client is gone (client_connection_check_interval) and ends.
        wait_for(lambda: _builds(dsn) == 0, timeout=15)
    finally:
        if first.poll() is None:
            first.kill()
        holder.rollback()
        holder.close()

    second = pg_ops("run", "--select", "index_migrations", env=_dagster_env(pg, dsn), timeout=240)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert f"lost its process (pid {first.pid}): marked it failed and freed its pool slots" in second.stdout
    assert "SUCCESS" in second.stdout and "no_invalid_indexes: passed" in second.stdout
    servers.drop_database(pg, "t_faults_killed_run")


def test_a_live_run_of_the_same_database_is_named_not_waited_for(pg: SandboxInfo, demo_template: str,
                                                                 tmp_path: Path) -> None:
    dsn = _fresh(pg, demo_template, "t_faults_live_run")
    env = {**os.environ, **_dagster_env(pg, dsn)}
    holder = _snapshot_holder(dsn)
    first = subprocess.Popen([sys.executable, "-m", "pg_ops.cli", "run", "--select", "index_migrations"],
                             cwd=REPO, env=env, stdout=(tmp_path / "first.log").open("w"), stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: _builds(dsn) == 1, timeout=120)
        second = pg_ops("run", "--select", "index_migrations", env=_dagster_env(pg, dsn), timeout=60)
        line = one_line_error(second)
        assert f"is in progress (worker pid {first.pid} on" in line and "wait for it to end" in line
    finally:
        holder.rollback()
        holder.close()
        first.wait(120)
    assert first.returncode == 0
    servers.drop_database(pg, "t_faults_live_run")


# --- 2. The watchdog ------------------------------------------------------------------------------------------

def test_the_build_watchdog_reports_the_wait_and_names_the_blocker(pg: SandboxInfo, demo_template: str,
                                                                   tmp_path: Path) -> None:
    dsn = _fresh(pg, demo_template, "t_faults_watchdog")
    write(tmp_path, "001_watched.sql", "create index concurrently if not exists mt_watched on public.orders "
                                       "(delivered_at);")
    holder = _snapshot_holder(dsn)
    lines: list[str] = []
    worker = threading.Thread(target=lambda: migrate.apply(dsn, settings(tmp_path), log=lines.append))
    worker.start()
    try:
        wait_for(lambda: any(f"waiting for pid {holder.info.backend_pid} (postgres, idle in transaction" in line
                             for line in lines), timeout=30)
    finally:
        holder.rollback()
        holder.close()
        worker.join(60)
    assert any(line.startswith("public.mt_watched: waiting for old snapshots") for line in lines)
    assert not any("build watch stopped" in line for line in lines)
    servers.drop_database(pg, "t_faults_watchdog")


def test_a_failing_watchdog_says_so_once(demo_db: str) -> None:
    said: list[str] = []
    with Poller(demo_db, lambda conn: conn.execute("select 1 / 0"), 0.05, "test watch", on_failure=said.append):
        time.sleep(0.5)
    assert said == ["pg_ops test watch stopped: division by zero; the work it watches goes on"]


# --- 3, 4, 6, 7, 9. Bad input: one line, non-zero, nothing changed -------------------------------------------

BAD_INPUTS: list[tuple[tuple[str, ...], str]] = [
    (("demo", "load", "--scale", "1000000"), "scale 1e+06 is too large: at most 100"),
    (("demo", "load", "--scale", "0"), "--scale must be greater than 0"),
    (("demo", "load", "--scale", "1e400"), "--scale must be greater than 0"),
    (("demo", "load", "--seed", "99999999999"), "seed must be a whole number from 0 to 2147483647"),
    (("demo", "load", "--seed", "-1"), "seed must be a whole number from 0 to 2147483647"),
    (("demo", "load", "--anchor", "0001-01-01"), "anchor 0001-01-01 is out of range"),
    (("demo", "load", "--anchor", "yesterday"), "anchor must be a day as YYYY-MM-DD"),
    (("run", "--select", "nosuchasset"), "no asset named nosuchasset in the rollout; the assets are backup,"),
    (("run", "--select", "index_migrations,,"), "has an empty name"),
    (("migrate", "--step", "no_such_step"), "argument --step: invalid choice"),
    (("migrate", "--repair", "999"), "no migration file has version 999"),
    (("migrate", "--plan", "--repair", "999"), "no migration file has version 999"),
    (("preflight", "--dsn", "postgresql://postgres@127.0.0.1:1/nowhere"), "cannot connect to postgres@127.0.0.1:1"),
    (("preflight", "--dsn", "host=127.0.0.1 port=abc"), 'invalid integer value "abc" for connection option "port"'),
    (("sandbox", "sideways"), "argument action: invalid choice"),
    (("sandbox", "up", "--port", "99999"), "--port must be from 1 to 65535, got 99999"),
    (("sandbox", "up", "--port", "five"), "--port must be a whole number, got 'five'"),
]


@pytest.mark.parametrize("argv, expected", BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_is_one_line_and_changes_nothing(pg: SandboxInfo, demo_db: str, argv: tuple[str, ...],
                                                   expected: str) -> None:
    before = fingerprint(pg, demo_db)
    if argv[:2] == ("demo", "load"):
        argv = (*argv, "--dsn", demo_db)  # onto an existing demo: the typo must not wipe it
    line = one_line_error(pg_ops(*argv, env={"PG_OPS_DSN": demo_db}))
    assert expected in line, line
    assert fingerprint(pg, demo_db) == before


def test_a_mistyped_pg_ops_root_is_refused(demo_db: str, tmp_path: Path) -> None:
    line = one_line_error(pg_ops("migrate", env={"PG_OPS_DSN": demo_db, "PG_OPS_ROOT": str(tmp_path / "typo")}))
    assert "has no sql/ folder" in line


def test_plan_with_repair_writes_nothing(pg: SandboxInfo, demo_db: str) -> None:
    with connection(demo_db) as conn:
        ledger.ensure(conn)
        conn.execute("insert into pgops.schema_migrations (version, name, kind, step, sha256, duration_ms, outcome) "
                     "values ('001', 'orders_driver_created_at', 'versioned', 'index_migrations', 'edited-by-hand', "
                     "1, 'success') on conflict (version) do update set sha256 = 'edited-by-hand'")
    try:
        before = fingerprint(pg, demo_db)
        planned = pg_ops("migrate", "--plan", "--repair", "001", env={"PG_OPS_DSN": demo_db})
        assert planned.returncode == 0, planned.stderr
        assert "would accept migrations/001_orders_driver_created_at.sql from checksum edited-by-ha" in planned.stdout
        assert "nothing written" in planned.stdout
        assert fingerprint(pg, demo_db) == before
        repaired = pg_ops("migrate", "--repair", "001", env={"PG_OPS_DSN": demo_db})
        assert repaired.returncode == 0 and "ledger now accepts" in repaired.stdout
        assert fingerprint(pg, demo_db) != before
    finally:
        with connection(demo_db) as conn:
            conn.execute("drop schema pgops cascade")


def test_a_role_without_privileges_gets_one_line(pg: SandboxInfo, demo_db: str) -> None:
    with connection(demo_db) as conn:
        ledger.ensure(conn)  # the ledger exists, and this role may not read it
    servers.create_login_role(pg, "faults_reader", SECRET)
    dsn = servers.role_dsn(pg, demo_db.rsplit("/", 1)[1], "faults_reader", SECRET)
    try:
        before = fingerprint(pg, demo_db)
        for argv in (("migrate", "--plan"), ("migrate",)):
            line = one_line_error(pg_ops(*argv, env={"PG_OPS_DSN": dsn}))
            assert "reading the ledger on faults_reader@" in line and "permission denied for schema pgops" in line
            assert SECRET not in line
        assert fingerprint(pg, demo_db) == before
    finally:
        with connection(demo_db) as conn:
            conn.execute("drop schema pgops cascade")


def test_preflight_does_not_pass_what_it_cannot_know(pg: SandboxInfo, demo_db: str) -> None:
    servers.create_login_role(pg, "faults_reader", SECRET)
    result = preflight.check_target(servers.role_dsn(pg, demo_db.rsplit("/", 1)[1], "faults_reader", SECRET))
    [disk] = [c for c in result.checks if c.name == "free_disk"]
    assert disk.status == "warn" and disk.detail.startswith("unknown: data_directory is visible to superusers")


# --- 5. The wrong database ------------------------------------------------------------------------------------

def test_a_database_without_the_platform_is_refused_before_anything_changes(pg: SandboxInfo) -> None:
    dsn = servers.create_database(pg, "t_faults_empty")
    before = schema_dump(pg, "t_faults_empty")
    result = preflight.check_target(dsn)
    [failure] = result.failures
    assert failure.name == "platform_objects"
    assert "is not the database these migrations are for: it has no public.orders" in failure.detail
    for argv in (("migrate",), ("migrate", "--plan"), ("run", "--select", "index_migrations")):
        line = one_line_error(pg_ops(*argv, env={"PG_OPS_DSN": dsn}))
        assert "public.orders (migrations/001_orders_driver_created_at.sql)" in line, line
    after = schema_dump(pg, "t_faults_empty")
    assert after == before and "pgops" not in after
    servers.drop_database(pg, "t_faults_empty")


# --- 8. A crash under synchronous_commit = off -----------------------------------------------------------------

@pytest.fixture(scope="module")
def crashable(demo_template: str, pg: SandboxInfo) -> Iterator[tuple[SandboxInfo, Path]]:
    """A cluster of its own (it gets killed), with synchronous_commit off and a lazy WAL writer: a commit that
    is not flushed explicitly is lost in a crash."""
    root = Path(tempfile.mkdtemp(prefix="pgops-test-crash.", dir="/tmp"))
    try:
        info, _ = sandbox.up(port=sandbox.free_port(), root=root,
                             settings={"synchronous_commit": "off", "wal_writer_delay": "'10s'",
                                       "wal_writer_flush_after": "'1GB'"})
        yield info, root
    finally:
        sandbox.down(purge=True, root=root)
        shutil.rmtree(root, ignore_errors=True)


def _crash(info: SandboxInfo) -> None:
    pid = sandbox.server_pid(info)
    assert pid is not None
    os.kill(pid, signal.SIGQUIT)  # immediate shutdown: no checkpoint, unflushed WAL is gone
    wait_for(lambda: not sandbox.process_alive(pid), timeout=30)


def _restart(info: SandboxInfo, root: Path) -> SandboxInfo:
    restarted, _ = sandbox.up(port=info.port, root=root)
    return restarted


def _crash_db(info: SandboxInfo) -> str:
    dsn = servers.create_database(info, "t_crash")
    with connection(dsn) as conn:
        conn.execute("create table public.orders as select g as id, now() as delivered_at, now() as created_at "
                     "from generate_series(1, 20000) g")
    return dsn


def test_the_ledger_survives_a_crash_right_after_it_said_applied(crashable: tuple[SandboxInfo, Path],
                                                                 tmp_path: Path) -> None:
    info, root = crashable
    dsn = _crash_db(info)
    write(tmp_path, "001_durable.sql", "create index concurrently if not exists mt_durable on public.orders (id);")
    report = migrate.apply(dsn, settings(tmp_path))
    assert [a.version for a in report.applied] == ["001"]
    _crash(info)
    _restart(info, root)
    with connection(dsn) as conn:
        assert {r.version: r.outcome for r in ledger.read(conn).values()} == {"001": "success"}


def test_a_crash_mid_migration_names_the_file_and_a_rerun_repairs_it(crashable: tuple[SandboxInfo, Path],
                                                                     tmp_path: Path) -> None:
    info, root = crashable
    dsn = _crash_db(info)
    write(tmp_path, "001_crashed.sql", "create index concurrently if not exists mt_crashed on public.orders "
                                       "(delivered_at);")
    holder = connect(dsn, autocommit=False)
    holder.execute("set transaction isolation level repeatable read")
    holder.execute("select count(*) from public.orders")
    failure: list[BaseException] = []

    def run() -> None:
        try:
            migrate.apply(dsn, settings(tmp_path, runner_lock_wait_s=5))
        except PgOpsError as exc:
            failure.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    wait_for(lambda: _builds(dsn) == 1, timeout=60)
    _crash(info)
    holder.close()
    worker.join(60)  # the server stays down: the build's retry cannot reconnect
    _restart(info, root)
    [error] = failure
    assert f"{tmp_path.name}/001_crashed.sql was interrupted (" in str(error)
    assert "run pg-ops migrate again" in str(error) and "\n" not in str(error)

    report = migrate.apply(dsn, settings(tmp_path))
    assert [a.version for a in report.applied] == ["001"]
    with connection(dsn) as conn:
        valid = conn.execute("select indisvalid from pg_index where indexrelid::regclass::text = 'mt_crashed'")
        assert valid.fetchall() == [{"indisvalid": True}]
        assert {r.version: r.outcome for r in ledger.read(conn).values()} == {"001": "success"}
