"""Bad input on the command line: one line, a non-zero exit, and nothing changed."""

from __future__ import annotations

import pytest

from pg_ops.db import connection
from tests.cli import one_line_error, pg_ops


def _orders(dsn: str) -> int:
    with connection(dsn) as conn:
        row = conn.execute("select count(*) as n, coalesce(sum(total_amount), 0) as s from orders").fetchone()
    assert row is not None
    return hash((row["n"], row["s"]))


@pytest.mark.parametrize("scale, expected", [
    ("0", "--scale must be greater than 0"),
    ("-1", "--scale must be greater than 0"),
    ("abc", "--scale must be a number"),
    ("nan", "--scale must be greater than 0"),
])
def test_bad_scale(demo_db: str, scale: str, expected: str) -> None:
    before = _orders(demo_db)
    line = one_line_error(pg_ops("demo", "load", "--scale", scale, "--dsn", demo_db))
    assert expected in line
    assert _orders(demo_db) == before


def test_bad_anchor(demo_db: str) -> None:
    before = _orders(demo_db)
    assert "anchor must be a day as YYYY-MM-DD" in one_line_error(
        pg_ops("demo", "load", "--scale", "0.001", "--anchor", "yesterday", "--dsn", demo_db))
    assert _orders(demo_db) == before


@pytest.mark.parametrize("command", [("preflight",), ("run",)])
def test_dsn_unset_outside_the_sandbox(command: tuple[str, ...]) -> None:
    line = one_line_error(pg_ops(*command))
    assert "PG_OPS_DSN is not set" in line and "pg-ops sandbox up" in line


def test_unknown_command_is_one_line() -> None:
    assert "invalid choice" in one_line_error(pg_ops("sandbox", "explode"))


def test_preflight_failure_exits_non_zero_with_one_line(demo_db: str) -> None:
    port_closed = "postgresql://postgres@127.0.0.1:1/nowhere"
    line = one_line_error(pg_ops("preflight", env={"PG_OPS_DSN": port_closed}))
    assert "cannot connect to postgres@127.0.0.1:1/nowhere" in line


def test_preflight_passes_on_the_demo(demo_db: str) -> None:
    result = pg_ops("preflight", env={"PG_OPS_DSN": demo_db})
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("PASS") == 6
