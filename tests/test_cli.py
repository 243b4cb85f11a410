"""Bad input on the command line: one line, a non-zero exit, and nothing changed."""

from __future__ import annotations

import pytest

from pg_ops.engine.db import connection
from pg_ops.engine.monitoring import monitoring_schema
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
    assert result.stdout.count("PASS") == 8
    assert "PASS  search_ranking: the rum extension is available: search is ranked by a RUM index" in result.stdout


def test_snapshot_takes_one_and_says_so_in_one_line(demo_db: str) -> None:
    password = "Cli-snapshot-pw-1"
    env = {"PG_OPS_DSN": demo_db, "MONITORING_PASSWORD": password}
    monitoring_schema.apply(demo_db, password)
    taken = pg_ops("snapshot", env=env)
    assert taken.returncode == 0, taken.stdout + taken.stderr
    assert taken.stdout.strip().endswith("not pushed (no Pushgateway configured); history saved")
    assert "13/13 views" in taken.stdout and len(taken.stdout.strip().splitlines()) == 1
    assert "Cli-snapshot" not in taken.stdout + taken.stderr

    wrong = pg_ops("snapshot", env={**env, "MONITORING_PASSWORD": "not-it"})
    assert wrong.returncode == 1 and len(wrong.stdout.strip().splitlines()) == 1 and "not-it" not in wrong.stdout
    assert wrong.stdout.strip().endswith('password authentication failed for user "monitoring"; MONITORING_PASSWORD '
                                         "must be the password monitoring_schema gave the role: materialize it again "
                                         "with this password")
    with connection(demo_db) as conn:
        conn.execute("alter schema monitoring rename to monitoring_away")
    try:
        missing = pg_ops("snapshot", env=env)
    finally:
        with connection(demo_db) as conn:
            conn.execute("alter schema monitoring_away rename to monitoring")
    assert missing.returncode == 1 and missing.stdout.strip().endswith(
        "the monitoring views are not installed, so nothing was pushed or written; materialize monitoring_schema "
        "(pg-ops run --select monitoring_schema)")

    unset = one_line_error(pg_ops("snapshot", env={"PG_OPS_DSN": demo_db}))
    assert unset == "pg-ops: MONITORING_PASSWORD is not set; export the password the monitoring role " \
                    "(and the exporter) will log in with"
    bad = one_line_error(pg_ops("snapshot", env={**env, "PG_OPS_SNAPSHOT_VIEW_TIMEOUT_MS": "fast"}))
    assert bad == "pg-ops: PG_OPS_SNAPSHOT_VIEW_TIMEOUT_MS must be a number >= 100, got 'fast'; fix or unset it " \
                  "(default 2000)"


def test_a_mistyped_reports_start_day_is_one_line(demo_db: str) -> None:
    line = one_line_error(pg_ops("run", env={"PG_OPS_DSN": demo_db, "PG_OPS_REPORTS_START": "2026-13-01"}))
    assert "PG_OPS_REPORTS_START '2026-13-01' is not a day; give YYYY-MM-DD (UTC)" in line
