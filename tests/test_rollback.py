"""Rolling the rollout back on a real database: every down undoes its up, provably, and faults end in one line."""

from __future__ import annotations

import datetime as dt
import difflib
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pg_ops.engine import backup
from pg_ops.engine.db import connection
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.migrations import advisory_lock, migrate, rollback, undo_records
from pg_ops.engine.migrations.ledger import LedgerRow
from pg_ops.engine.proof import rls_matrix
from pg_ops.local.sandbox import SandboxInfo
from tests import servers
from tests.cli import REPO, one_line_error, pg_ops
from tests.test_migrate import SQUAWK, settings, wait_for, write

PLATFORM = migrate.Settings.platform()


@pytest.fixture
def fresh(pg: SandboxInfo, demo_template: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A demo copy in its 'before' state for this one test."""
    name = f"rb_{request.node.name[:40]}".lower()
    yield servers.create_database(pg, name, template=demo_template)
    servers.drop_database(pg, name)


def schema(dsn: str) -> list[str]:
    """pg_dump --schema-only without pg_ops's own schema (and without the dump's random \\restrict key)."""
    dumped = subprocess.run([str(backup.tool("pg_dump")), "--schema-only", "--exclude-schema=pgops", "--no-password"],
                            env=backup.libpq_env(dsn), capture_output=True, text=True, check=True)
    return [line for line in dumped.stdout.splitlines() if not line.startswith(("\\restrict", "\\unrestrict"))]


def schema_changes(before: list[str], after: list[str]) -> tuple[list[str], list[str]]:
    """The lines `after` adds to `before` and the lines it lacks (blank and "--" lines aside)."""
    diff = [line for line in difflib.ndiff(before, after) if line[:2] in ("+ ", "- ")]
    meaningful = [line for line in diff if line[2:].strip() not in ("", "--")]
    return ([line[2:] for line in meaningful if line.startswith("+")],
            [line[2:] for line in meaningful if line.startswith("-")])


def policies(dsn: str) -> list[dict[str, Any]]:
    with connection(dsn) as conn:
        return undo_records.policies(conn, ["public.profiles", "public.restaurants", "public.products",
                                            "public.orders", "public.order_items"])


def ledger(dsn: str) -> dict[str, str]:
    with connection(dsn) as conn:
        rows = conn.execute("select version, outcome from pgops.schema_migrations").fetchall()
    return {r["version"]: r["outcome"] for r in rows}


def invalid_indexes(dsn: str) -> list[str]:
    with connection(dsn) as conn:
        return [r["name"] for r in conn.execute("select indexrelid::regclass::text as name from pg_index "
                                                "where not indisvalid or not indisready")]


def test_round_trip_leaves_the_schema_of_a_clean_rollout_and_the_policies_as_they_were(fresh: str) -> None:
    before_schema, before_policies = schema(fresh), policies(fresh)
    rls_matrix.save(fresh, rls_matrix.take(fresh), rls_matrix.BEFORE_REWRITE)
    migrate.apply(fresh, PLATFORM)
    clean_rollout = schema(fresh)
    assert policies(fresh) != before_policies  # the rewrite did change them

    report = rollback.rollback(fresh, PLATFORM, "0", compare_matrix=True)

    assert len(report.undone) == 27
    # Down to zero is the database as it was, but for the rum extension 016 installed (its down keeps it).
    added, lost = schema_changes(before_schema, schema(fresh))
    assert lost == []
    assert added and all(" rum" in line for line in added), added
    assert policies(fresh) == before_policies
    assert report.rls_matrix.startswith("allow/deny matrix equal to the one recorded before the rewrite")
    assert set(ledger(fresh).values()) == {"rolled_back"}

    again = migrate.apply(fresh, PLATFORM)  # re-applying after a rollback works
    assert len(again.applied) == 27
    assert schema(fresh) == clean_rollout
    with connection(fresh) as conn:
        downs = conn.execute("select count(*) as n from pgops.migration_history where direction = 'down' "
                             "and outcome = 'success'").fetchone()
    assert downs == {"n": 27}


def test_down_to_a_version_keeps_what_is_older_and_only_that(fresh: str) -> None:
    migrate.apply(fresh, PLATFORM)
    report = rollback.rollback(fresh, PLATFORM, "9")  # "9" is 009
    assert report.to_version == "009"
    outcomes = ledger(fresh)
    assert all(outcomes[v] == "success" for v in outcomes if not v.startswith("R:") and int(v) <= 9)
    assert all(outcomes[v] == "rolled_back" for v in outcomes if v.startswith("R:") or int(v) > 9)
    with connection(fresh) as conn:
        kept = conn.execute("select to_regclass('public.orders_driver_id_created_at_idx') as old, "
                            "to_regclass('public.orders_created_at_idx') as new, "
                            "to_regclass('public.daily_restaurant_stats') as rollup, "
                            "to_regprocedure('private.is_admin()') as helper").fetchone()
    assert kept and kept["old"] and kept["helper"] and not kept["new"] and not kept["rollup"]
    assert rollback.rollback(fresh, PLATFORM, "009").undone == []  # nothing left to undo: a no-op


def test_a_policy_down_that_does_not_restore_the_policies_is_rolled_back(fresh: str, tmp_path: Path) -> None:
    write(tmp_path, "001_policy.sql", "create policy mt_p on public.orders for select to authenticated using (true);",
          step="rls_policies", transaction="on",
          down="drop policy if exists mt_p on public.orders;\n"
               "create policy mt_extra on public.orders for select using (false);")
    migrate.apply(fresh, settings(tmp_path))

    with pytest.raises(PgOpsError, match=r"rolling back .*/001_policy.sql failed: its down would leave the "
                                         r"policies different from before the file: public.orders policy mt_extra "
                                         r"was not there before; the down was rolled back"):
        rollback.rollback(fresh, settings(tmp_path), "0")
    names = {p["policy"] for p in policies(fresh)}
    assert "mt_p" in names and "mt_extra" not in names  # nothing of the down stayed
    assert ledger(fresh)["001"] == "rollback_failed"

    (tmp_path / "001_policy.down.sql").write_text("drop policy if exists mt_p on public.orders;\n")
    assert len(rollback.rollback(fresh, settings(tmp_path), "0").undone) == 1
    assert "mt_p" not in {p["policy"] for p in policies(fresh)}


def test_a_function_file_rolls_back_to_what_it_replaced_with_its_privileges(fresh: str, tmp_path: Path) -> None:
    functions = tmp_path / "functions"
    functions.mkdir()
    body = textwrap.dedent("""\
        -- pg_ops: step=rpc_functions
        create or replace function public.mt_answer() returns integer language sql as $$ select {n} $$;
        revoke all on function public.mt_answer() from public;
        grant execute on function public.mt_answer() to {who};
        """)
    only_functions = migrate.Settings(migrations_dir=None, functions_dir=functions, squawk_config=SQUAWK)

    def answer() -> tuple[int, list[str]]:
        with connection(fresh) as conn:
            row = conn.execute("select public.mt_answer() as n, array(select grantee::regrole::text from "
                               "aclexplode((select proacl from pg_proc where proname = 'mt_answer')) "
                               "where grantee <> 0 and grantee <> proowner) as who "
                               "from pg_proc where proname = 'mt_answer'").fetchone()
        assert row is not None
        return row["n"], sorted(row["who"])

    (functions / "mt_answer.sql").write_text(body.format(n=1, who="authenticated"))
    migrate.apply(fresh, only_functions)
    (functions / "mt_answer.sql").write_text(body.format(n=2, who="anon"))
    migrate.apply(fresh, only_functions)
    assert answer() == (2, ["anon", "authenticated"])  # CREATE OR REPLACE keeps the grants it found

    rollback.rollback(fresh, only_functions, "0")
    assert answer() == (1, ["authenticated"])  # the previous definition, with its privileges

    migrate.apply(fresh, only_functions)  # v2 again; what it replaced is v1
    with connection(fresh) as conn:
        conn.execute("drop function public.mt_answer()")
        conn.execute("delete from pgops.replaced_functions")
    with pytest.raises(PgOpsError, match=r"no record of what functions/mt_answer.sql replaced "
                                         r"\(public.mt_answer\(\)\).*nothing was changed"):
        rollback.rollback(fresh, only_functions, "0")


def test_a_function_that_did_not_exist_before_is_dropped(fresh: str, tmp_path: Path) -> None:
    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "mt_new.sql").write_text("-- pg_ops: step=rpc_functions\ncreate function public.mt_new() returns "
                                          "integer language sql as $$ select 7 $$;\n")
    only_functions = migrate.Settings(migrations_dir=None, functions_dir=functions, squawk_config=SQUAWK)
    migrate.apply(fresh, only_functions)
    rollback.rollback(fresh, only_functions, "0")
    with connection(fresh) as conn:
        assert conn.execute("select to_regprocedure('public.mt_new()') as f").fetchone() == {"f": None}


def test_bad_input_is_one_line_and_changes_nothing(fresh: str, tmp_path: Path) -> None:
    migrate.apply(fresh, PLATFORM)
    before = ledger(fresh)
    env = {"PG_OPS_DSN": fresh}

    line = one_line_error(pg_ops("migrate", "--down-to", "042", env=env))
    assert "no migration has that version; the versions are 001 to 019, and 0 undoes them all" in line
    line = one_line_error(pg_ops("migrate", "--down-to", "nine", env=env))
    assert "--down-to 'nine': no migration has that version" in line
    line = one_line_error(pg_ops("migrate", "--down-to", "0", "--repair", "001", env=env))
    assert "give one of them" in line
    line = one_line_error(pg_ops("migrate", "--down-to", "0", "--step", "rls_policies", env=env))
    assert "--step chooses files to apply; --down-to rolls back every step" in line
    line = one_line_error(pg_ops("migrate", "--compare-matrix", env=env))
    assert "--compare-matrix goes with --down-to VERSION" in line
    assert ledger(fresh) == before

    planned = pg_ops("migrate", "--down-to", "015", "--plan", env=env)
    assert planned.returncode == 0, planned.stderr
    assert "undo  migrations/016_product_search_rum.sql  (migrations/016_product_search_rum.down.sql)" in planned.stdout
    assert "undo  functions/search_products.sql  (drop 1 new function(s))" in planned.stdout
    assert "12 to roll back to version 015 (--plan: nothing changed)" in planned.stdout
    whole = pg_ops("migrate", "--down-to", "0", "--plan", env=env).stdout
    assert ("undo  migrations/009_rls_rewrite.sql  (migrations/009_rls_rewrite.down.sql, policies compared with "
            "those recorded before it)") in whole
    assert "undo  migrations/012_daily_restaurant_stats_backfill.sql  (nothing to undo)" in whole
    assert ledger(fresh) == before


def test_a_migration_without_a_down_is_refused_up_and_down(fresh: str, tmp_path: Path) -> None:
    write(tmp_path, "001_nodown.sql", "create index concurrently if not exists mt_nodown on public.orders (status);",
          down=None)
    with pytest.raises(PgOpsError, match=r"lint rejects 001_nodown.sql line 1: missing-down: no down file: write "
                                         r"001_nodown.down.sql beside it"):
        migrate.apply(fresh, settings(tmp_path))
    write(tmp_path, "001_nodown.sql", "create index concurrently if not exists mt_nodown on public.orders (status);",
          down="drop index concurrently if exists public.mt_nodown;")
    migrate.apply(fresh, settings(tmp_path))
    (tmp_path / "001_nodown.down.sql").unlink()
    with pytest.raises(PgOpsError, match=r"migrations?/001_nodown.sql has no down file|001_nodown.sql has no down"):
        rollback.rollback(fresh, settings(tmp_path), "0")
    unsafe = "-- pg_ops: transaction=off\ndrop index if exists public.mt_nodown;\n"
    (tmp_path / "001_nodown.down.sql").write_text(unsafe)
    with pytest.raises(PgOpsError, match=r"lint rejects 001_nodown.down.sql line 2: require-concurrent-index-deletion"):
        rollback.rollback(fresh, settings(tmp_path), "0")
    with connection(fresh) as conn:
        assert conn.execute("select to_regclass('public.mt_nodown') is not null as kept").fetchone() == {"kept": True}


def test_a_down_while_another_runner_holds_the_lock_is_refused(fresh: str) -> None:
    migrate.apply(fresh, PLATFORM)
    before = ledger(fresh)
    with connection(fresh) as holder:
        holder.execute("select pg_advisory_lock(%s)", (advisory_lock.LOCK_KEY,))
        quick = migrate.Settings.platform(runner_lock_wait_s=1.0)
        with pytest.raises(PgOpsError, match=r"another pg_ops rollout is running on .*holds the runner lock"):
            rollback.rollback(fresh, quick, "0")
    assert ledger(fresh) == before


def test_a_down_killed_mid_drop_converges_when_run_again(fresh: str, tmp_path: Path) -> None:
    write(tmp_path, "001_killed.sql", "create index concurrently if not exists mt_killed on public.orders (status);",
          down="drop index concurrently if exists public.mt_killed;")
    migrate.apply(fresh, settings(tmp_path))
    script = (f"from pathlib import Path; from pg_ops.engine.migrations import rollback; "
              f"from tests.test_migrate import settings; "
              f"rollback.rollback({fresh!r}, settings(Path({str(tmp_path)!r})), '0')")
    with connection(fresh, autocommit=False) as reader:  # an open transaction that read orders: the drop waits
        reader.execute("select 1 from public.orders limit 1")
        runner = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=dict(os.environ),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with connection(fresh) as watch:
            def dropping() -> bool:
                return bool(watch.execute("select 1 from pg_stat_activity where query ilike 'drop index concurrently%' "
                                          "and wait_event_type = 'Lock'").fetchall())
            wait_for(dropping)
            os.kill(runner.pid, signal.SIGKILL)
            runner.wait()
            # The server side goes too (a crash, a failover): the index is left half dropped.
            watch.execute("select pg_terminate_backend(pid) from pg_stat_activity "
                          "where query ilike 'drop index concurrently%'")
        reader.rollback()
    assert invalid_indexes(fresh) == ["mt_killed"]
    assert ledger(fresh)["001"] == "success"  # the down never said it finished

    report = rollback.rollback(fresh, settings(tmp_path), "0")
    assert [u.version for u in report.undone] == ["001"]
    assert invalid_indexes(fresh) == []
    with connection(fresh) as conn:
        assert conn.execute("select to_regclass('public.mt_killed') as i").fetchone() == {"i": None}
    assert ledger(fresh)["001"] == "rolled_back"


def test_the_rollback_hint_names_the_version_before_the_run() -> None:
    start = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)

    def row(version: str, minutes: int, outcome: str = "success") -> LedgerRow:
        return LedgerRow(version=version, name="x", kind="repeatable" if version.startswith("R:") else "versioned",
                         step="s", sha256="0", applied_at=start + dt.timedelta(minutes=minutes), duration_ms=1,
                         applied_by="me", outcome=outcome, error=None)

    earlier = {v: row(v, -600) for v in ("001", "002", "009")}
    assert rollback.hint({**earlier, "010": row("010", 3), "R:f": row("R:f", 4)}, start) == (
        "to undo what this run applied: pg-ops migrate --down-to 009 (or launch rollback_job with to_version: '009')")
    assert rollback.hint(earlier, start) == (
        "this run applied no file; pg-ops migrate --down-to 0 undoes the whole rollout")
    assert rollback.version_before({"001": row("001", 1)}, start) == "0"
    assert rollback.version_before({**earlier, "010": row("010", -5, "rolled_back"), "R:f": row("R:f", 2)},
                                   start) == "009"


def test_a_rollback_of_a_database_pg_ops_never_touched_changes_nothing(pg: SandboxInfo) -> None:
    """The wrong database (a typo in PG_OPS_DSN): nothing to undo, and no ledger schema left behind."""
    dsn = servers.create_database(pg, "rb_untouched")
    try:
        report = rollback.rollback(dsn, PLATFORM, "0")
        assert report.undone == [] and report.rls_matrix == "not compared: nothing to roll back"
        with connection(dsn) as conn:
            assert conn.execute("select to_regnamespace('pgops') as s").fetchone() == {"s": None}
    finally:
        servers.drop_database(pg, "rb_untouched")
