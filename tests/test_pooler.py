"""PgBouncer's settings rendered into files, and proven on a candidate of the real binary (Debian's 1.18)."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import psycopg.rows
import pytest

from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.pooler import candidate, config
from pg_ops.engine.processes import process_alive
from pg_ops.local.sandbox import SandboxInfo, free_port
from tests import servers

ADMIN_PASSWORD = "Pooler-admin-pw-1"


def test_pool_sizes_leave_the_reserved_slots_and_room_for_what_bypasses_the_pooler(pg: SandboxInfo) -> None:
    with psycopg.connect(pg.dsn("postgres"), row_factory=psycopg.rows.dict_row) as conn:
        reserved = conn.execute("select current_setting('superuser_reserved_connections')::int as n").fetchone()
        assert reserved is not None
        assert config.server_pool_sizes(conn) == config.pool_sizes(pg_max_connections(conn), reserved["n"])
    sizes = config.pool_sizes(max_connections=100, superuser_reserved=3)
    assert sizes == config.PoolSizes(max_db_connections=87, default_pool_size=66, reserve_pool_size=21)
    assert config.pool_sizes(500, 3).max_db_connections == 447  # 10 % kept free above 50 connections
    with pytest.raises(PgOpsError, match="allows 10 connections .* too few for a pool; raise max_connections"):
        config.pool_sizes(max_connections=10, superuser_reserved=3)


@pytest.mark.parametrize(("change", "message"), [
    ({"pool_mode": "transactions"}, "pool_mode = 'transactions' is not one of session, transaction, statement"),
    ({"default_pool_size": 500}, "default_pool_size = 500 is out of range: it must be between 1 and 87"),
    ({"listen_port": 70000}, "listen_port = 70000 is out of range: it must be between 1 and 65535"),
    ({"query_wait_timeout_s": -1}, "query_wait_timeout_s = -1 is out of range"),
    ({"client_tls_cert_file": "/etc/hostname"}, "client_tls_cert_file and client_tls_key_file go together"),
    ({"server_tls_sslmode": "on"}, "server_tls_sslmode = 'on' is not one of"),
    ({"auth_user": "x; drop"}, "auth_user = 'x; drop' must be a role name"),
])
def test_a_value_out_of_range_is_refused_in_one_line_before_anything_is_written(
        change: dict[str, object], message: str) -> None:
    settings = replace(config.PoolerSettings(listen_port=6432), **change).sized(config.pool_sizes(100, 3))  # type: ignore[arg-type]
    with pytest.raises(PgOpsError, match=message) as refused:
        config.validate(settings)
    assert "\n" not in str(refused.value)


def test_the_auth_file_holds_a_verifier_postgresql_accepts_never_the_password(pg: SandboxInfo) -> None:
    verifier = config.scram_verifier("Verifier-pw-7")
    assert verifier.startswith("SCRAM-SHA-256$4096:") and "Verifier-pw-7" not in verifier
    with psycopg.connect(pg.dsn("postgres"), autocommit=True) as conn:
        conn.execute(f"create role pooler_verifier login password '{verifier}'")
    try:
        login = servers.role_dsn(pg, "postgres", "pooler_verifier", "Verifier-pw-7")
        with psycopg.connect(login) as conn:
            assert conn.execute("select current_user").fetchone() == ("pooler_verifier",)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(servers.role_dsn(pg, "postgres", "pooler_verifier", "wrong"))
    finally:
        with psycopg.connect(pg.dsn("postgres"), autocommit=True) as conn:
            conn.execute("drop role pooler_verifier")


def pg_max_connections(conn: psycopg.Connection[dict[str, int]]) -> int:
    row = conn.execute("select current_setting('max_connections')::int as n").fetchone()
    assert row is not None
    return row["n"]


@pytest.fixture
def folder() -> Iterator[Path]:
    """In /tmp: as root PgBouncer runs as postgres, which cannot enter pytest's root-only tmp_path."""
    path = Path(tempfile.mkdtemp(prefix="pg_ops_pooler_", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _rendered(folder: Path, pg: SandboxInfo, **change: object) -> config.Rendered:
    settings = replace(config.PoolerSettings(listen_port=free_port()), **change).sized(config.pool_sizes(100, 3))
    place = config.Place(directory=folder, listen_addr="127.0.0.1", server_host="127.0.0.1", server_port=pg.port,
                         database="postgres", os_user="postgres" if os.geteuid() == 0 else None)
    return config.render(settings, place, ADMIN_PASSWORD)


def test_a_rendered_file_boots_a_candidate_whose_show_config_equals_it(folder: Path, pg: SandboxInfo) -> None:
    rendered = _rendered(folder, pg, pool_mode="transaction", default_pool_size=9)
    assert ADMIN_PASSWORD not in rendered.ini + rendered.auth_file
    ini = candidate.write_files(rendered)
    with candidate.running(ini, rendered, ADMIN_PASSWORD) as running:
        assert process_alive(running.pid)
        shown = candidate.show_config(rendered, ADMIN_PASSWORD)
        assert candidate.config_differences(rendered, shown) == []
        assert shown["default_pool_size"] == "9" and shown["pool_mode"] == "transaction"
        # the check can fail: a value the candidate does not run with is named
        assert candidate.config_differences(replace(rendered, values={**rendered.values, "max_client_conn": "7"}),
                                            shown) == ["max_client_conn = '1000', rendered '7'"]
    assert not process_alive(running.pid)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", running.port)) != 0  # stopped: nothing listens any more
    proof = candidate.prove(rendered, ADMIN_PASSWORD)  # the same, as the one call the job makes
    assert proof.shown["default_pool_size"] == "9" and not process_alive(proof.pid)
    claims_more = replace(rendered, values={**rendered.values, "max_client_conn": "7"})  # the file says 1000
    with pytest.raises(PgOpsError, match="runs with other values than rendered: max_client_conn = '1000', "
                                         "rendered '7'"):
        candidate.prove(claims_more, ADMIN_PASSWORD)


def test_a_file_pgbouncer_cannot_load_ends_the_candidate_in_one_line(folder: Path, pg: SandboxInfo) -> None:
    rendered = _rendered(folder, pg)
    broken = replace(rendered, ini=rendered.ini.replace("pool_mode = transaction", "pool_mode = bogus"))
    ini = candidate.write_files(broken)
    with pytest.raises(PgOpsError, match=r"the candidate PgBouncer did not start: ERROR invalid value \"bogus\" for "
                       r"parameter pool_mode in configuration .*pgbouncer.ini:\d+\); FATAL cannot load") as refused, \
            candidate.running(ini, broken, ADMIN_PASSWORD):
        pass
    assert "\n" not in str(refused.value)


def test_an_application_role_logs_in_through_the_candidate_and_row_level_security_holds(
        folder: Path, pg: SandboxInfo, demo_db: str) -> None:
    """auth_query finds the role's verifier in PostgreSQL; nothing in PgBouncer's files is a password; the
    query runs as the app runs it (transaction pooling, no prepared statements) and RLS still applies."""
    database = demo_db.rsplit("/", 1)[1]
    with psycopg.connect(demo_db, autocommit=True) as conn:
        config.install_auth_lookup(conn, "pgbouncer_auth")
        config.install_auth_lookup(conn, "pgbouncer_auth")  # a second install changes nothing and does not fail
        conn.execute("do $$ begin if not exists (select from pg_roles where rolname = 'pooler_app') then "
                     "create role pooler_app login password 'Pooler-app-pw-3' in role authenticated; end if; end $$")
        hba = conn.execute("show hba_file").fetchone()
        customer = conn.execute("select customer_id, count(*) as n from orders group by 1 limit 1").fetchone()
        assert hba is not None and customer is not None
        lines = Path(hba[0]).read_text()
        if "pgbouncer_auth" not in lines:  # the auth user comes in from the pooler's address without a password
            Path(hba[0]).write_text("host all pgbouncer_auth 127.0.0.1/32 trust\n" + lines)
            conn.execute("select pg_reload_conf()")
    settings = replace(config.PoolerSettings(listen_port=free_port()), default_pool_size=2).sized(
        config.pool_sizes(100, 3))
    place = config.Place(directory=folder, listen_addr="127.0.0.1", server_host="127.0.0.1", server_port=pg.port,
                         database=database, os_user="postgres" if os.geteuid() == 0 else None)
    rendered = config.render(settings, place, ADMIN_PASSWORD)
    ini = candidate.write_files(rendered)
    through = f"postgresql://pooler_app:Pooler-app-pw-3@127.0.0.1:{settings.listen_port}/{database}"
    with candidate.running(ini, rendered, ADMIN_PASSWORD):
        with psycopg.connect(through, prepare_threshold=None) as app:
            app.execute("set local role authenticated")
            app.execute("select set_config('request.jwt.claims', %s, true)",
                        (f'{{"sub": "{customer[0]}", "role": "authenticated"}}',))
            seen = app.execute("select count(*), count(distinct customer_id) from orders").fetchone()
        assert seen == (customer[1], 1)  # only this customer's orders: the policy held through the pooler
        with pytest.raises(psycopg.OperationalError, match="password authentication failed|SASL"):
            psycopg.connect(through.replace("Pooler-app-pw-3", "wrong"))
    assert "Pooler-app-pw-3" not in rendered.ini + rendered.auth_file
