"""Session-wide real PostgreSQL, a demo template, and a fresh database per test module."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from psycopg import sql

from pg_ops.engine.db import Connection, connection
from pg_ops.local import demo
from pg_ops.local.sandbox import SandboxInfo
from tests import servers

DEMO_TEMPLATE = "demo_template"


def pytest_configure(config: pytest.Config) -> None:
    # Tests never touch the developer's .pg_ops, sandbox or target database.
    os.environ["PG_OPS_STATE_DIR"] = tempfile.mkdtemp(prefix="pgops-test-state.", dir="/tmp")
    for name in ("PG_OPS_DSN", "DAGSTER_HOME", "PGPASSWORD"):
        os.environ.pop(name, None)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(os.environ["PG_OPS_STATE_DIR"], ignore_errors=True)  # one per run; /tmp is not ours to fill


@pytest.fixture(scope="session")
def pg() -> Iterator[SandboxInfo]:
    with servers.postgres_cluster() as info:
        yield info


@pytest.fixture(scope="session")
def demo_template(pg: SandboxInfo) -> str:
    dsn = servers.create_database(pg, DEMO_TEMPLATE)
    demo.load(dsn, scale=servers.TEST_SCALE, seed=servers.TEST_SEED)
    return DEMO_TEMPLATE


@pytest.fixture(scope="module")
def demo_db(request: pytest.FixtureRequest, pg: SandboxInfo, demo_template: str) -> Iterator[str]:
    """A fresh copy of the demo platform for this test module; its DSN (superuser, no password)."""
    name = "t_" + re.sub(r"\W", "_", request.module.__name__.split(".")[-1])[:50]
    dsn = servers.create_database(pg, name, template=demo_template)
    yield dsn
    servers.drop_database(pg, name)


@contextmanager
def as_user(dsn: str, role: str, sub: Any | None) -> Iterator[Connection]:
    """A transaction as Supabase runs a request: SET ROLE plus request.jwt.claims. Rolled back after."""
    with connection(dsn, autocommit=False) as conn:
        claims = "" if sub is None else f'{{"sub": "{sub}", "role": "{role}"}}'
        conn.execute("select set_config('request.jwt.claims', %s, true)", (claims,))
        conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
        try:
            yield conn
        finally:
            conn.rollback()
