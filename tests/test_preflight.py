"""Preflight on real servers: passes on a healthy target and fails with one clear line where it should."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from pg_ops.engine import preflight
from pg_ops.engine.db import connect, connection
from pg_ops.engine.errors import PgOpsError
from pg_ops.local.sandbox import SandboxInfo
from tests import servers

SECRET = "Pw-never-shown-7731"


def test_passes_on_the_demo(demo_db: str) -> None:
    result = preflight.check_target(demo_db)
    assert result.failures == [], result.failure_message()
    statuses = {check.name: check.status for check in result.checks}
    assert statuses == {"server_version": "pass", "pg_stat_statements": "pass", "track_functions": "pass",
                        "privileges": "pass", "long_transactions": "pass", "free_disk": "pass",
                        "platform_objects": "pass", "search_ranking": "pass"}
    assert result.server_version.startswith("PostgreSQL 15")
    assert result.database_size_bytes > 1_000_000
    assert {"shared_preload_libraries", "track_functions"} <= {row["name"] for row in result.settings}


def test_rum_installed_where_search_cannot_name_it_is_a_warning_that_says_how_to_move_it(
        pg: SandboxInfo, demo_db: str) -> None:
    dsn = servers.create_database(pg, "preflight_rum_public")
    try:
        with connection(dsn) as conn:
            conn.execute("create extension rum schema public")
        check = next(c for c in preflight.check_target(dsn).checks if c.name == "search_ranking")
        assert check.status == "warn"
        assert "rum is installed in schema public" in check.detail and "ALTER EXTENSION rum SET SCHEMA extensions" \
            in check.detail
    finally:
        servers.drop_database(pg, "preflight_rum_public")


@pytest.fixture(scope="module")
def plain_cluster() -> Iterator[SandboxInfo]:
    """A server as many are found in the wild: no preload, track_functions off."""
    with servers.postgres_cluster({"shared_preload_libraries": "''", "track_functions": "'none'"}) as info:
        yield info


def test_names_missing_pg_stat_statements_and_how_to_fix_it(plain_cluster: SandboxInfo) -> None:
    result = preflight.check_target(plain_cluster.dsn("postgres"))
    # an empty cluster also lacks the platform's tables (platform_objects); this test is about the extension
    [failure] = [c for c in result.failures if c.name != "platform_objects"]
    assert failure.name == "pg_stat_statements"
    assert "shared_preload_libraries = 'pg_stat_statements'" in failure.detail and "restart" in failure.detail
    assert "\n" not in result.failure_message()
    track = next(c for c in result.checks if c.name == "track_functions")
    assert track.status == "warn" and "ALTER SYSTEM SET track_functions = 'all'" in track.detail


def test_long_open_transaction_fails_with_its_pid(demo_db: str) -> None:
    holder = connect(demo_db, autocommit=False)
    try:
        pid = holder.execute("select pg_backend_pid() as pid").fetchone()["pid"]  # type: ignore[index]
        time.sleep(1.5)
        result = preflight.check_target(demo_db, long_transaction_s=1)
    finally:
        holder.rollback()
        holder.close()
    [failure] = result.failures
    assert failure.name == "long_transactions"
    assert f"pid {pid}" in failure.detail and "CREATE INDEX CONCURRENTLY" in failure.detail


def test_role_that_owns_nothing_is_told_why(pg: SandboxInfo, demo_db: str) -> None:
    servers.create_login_role(pg, "reporting", SECRET)
    dbname = demo_db.rsplit("/", 1)[1]
    result = preflight.check_target(servers.role_dsn(pg, dbname, "reporting", SECRET))
    [failure] = result.failures
    assert failure.name == "privileges"
    assert "does not own" in failure.detail and "public.orders" in failure.detail
    assert SECRET not in result.failure_message()


def test_wrong_password_is_one_line_without_the_password(pg: SandboxInfo, demo_db: str) -> None:
    servers.create_login_role(pg, "reporting", SECRET)
    wrong = "Wrong-" + SECRET
    with pytest.raises(PgOpsError) as caught:
        preflight.check_target(servers.role_dsn(pg, demo_db.rsplit("/", 1)[1], "reporting", wrong))
    message = str(caught.value)
    assert "password authentication failed" in message and "reporting@127.0.0.1" in message
    assert wrong not in message and SECRET not in message and "\n" not in message


def test_unreachable_server_is_one_line() -> None:
    port = servers.sandbox.free_port()  # nothing listens there
    started = time.monotonic()
    with pytest.raises(PgOpsError, match=rf"cannot connect to postgres@127.0.0.1:{port}/postgres: .*refused"):
        preflight.check_target(f"postgresql://postgres:{SECRET}@127.0.0.1:{port}/postgres", connect_timeout_s=3)
    assert time.monotonic() - started < 10


def test_does_not_leave_sessions_behind(demo_db: str) -> None:
    preflight.check_target(demo_db)
    with connection(demo_db) as conn:
        left = conn.execute("select count(*) as n from pg_stat_activity where application_name = "
                            "'pg_ops preflight'").fetchone()
    assert left is not None and left["n"] == 0


def test_concurrent_preflights_do_not_interfere(demo_db: str) -> None:
    results: list[int] = []

    def one() -> None:
        results.append(len(preflight.check_target(demo_db).failures))

    threads = [threading.Thread(target=one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [0, 0, 0]
