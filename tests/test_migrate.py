"""The migration engine under faults, on a real database: each ends in one line and loses nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pg_ops.engine.db import Target, connect, connection
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.migrations import migrate
from tests.cli import REPO, one_line_error, pg_ops

SQUAWK = REPO / "sql" / "migrations" / "squawk.toml"
SQUAWK_DOWN = REPO / "sql" / "migrations" / "squawk.down.toml"


def write(folder: Path, name: str, body: str, step: str = "index_migrations", transaction: str = "off",
          down: str | None = "-- nothing to undo in this test") -> Path:
    """A migration file and (unless `down` is None) its down, with the given body."""
    path = folder / name
    path.write_text(f"-- test migration\n-- pg_ops: step={step}\n-- pg_ops: transaction={transaction}\n\n{body}\n")
    if down is not None:
        path.with_name(name.removesuffix(".sql") + ".down.sql").write_text(
            f"-- pg_ops: transaction={transaction}\n{down}\n")
    return path


def settings(folder: Path, **overrides: Any) -> migrate.Settings:
    return migrate.Settings(migrations_dir=folder, functions_dir=None, squawk_config=SQUAWK,
                            squawk_down_config=SQUAWK_DOWN, **overrides)


@pytest.fixture
def db(demo_db: str) -> Iterator[str]:
    """The module's demo copy with no ledger and none of this module's test indexes."""
    with connection(demo_db) as conn:
        conn.execute("drop schema if exists pgops cascade")
        for row in conn.execute("select indexrelid::regclass::text as name from pg_index i join pg_class c "
                                "on c.oid = i.indexrelid where c.relname like 'mt\\_%'").fetchall():
            conn.execute(f"drop index if exists {row['name']}")
    yield demo_db


def ledger_rows(dsn: str) -> dict[str, tuple[str, str | None]]:
    with connection(dsn) as conn:
        if conn.execute("select to_regclass('pgops.schema_migrations') as t").fetchone() == {"t": None}:
            return {}
        return {r["version"]: (r["outcome"], r["error"])
                for r in conn.execute("select version, outcome, error from pgops.schema_migrations")}


def index_state(dsn: str, name: str) -> list[tuple[bool, bool]]:
    with connection(dsn) as conn:
        return [(r["indisvalid"], r["indisready"]) for r in conn.execute(
            "select indisvalid, indisready from pg_index i join pg_class c on c.oid = i.indexrelid "
            "where c.relname = %s", (name,))]


def wait_for(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_syntax_error_is_refused_before_any_change(db: str, tmp_path: Path) -> None:
    write(tmp_path, "001_ok.sql", "create index concurrently if not exists mt_ok on public.orders (status);")
    write(tmp_path, "002_bad.sql", "create index concurrently if not exists mt_bad\n  on public.orders (status;")
    with pytest.raises(PgOpsError, match=r"002_bad.sql: SQL syntax error at line 6"):
        migrate.apply(db, settings(tmp_path))
    assert index_state(db, "mt_ok") == [] and ledger_rows(db) == {}


def test_runtime_failure_stops_there_is_ledgered_and_a_fixed_rerun_continues(db: str, tmp_path: Path) -> None:
    write(tmp_path, "001_ok.sql", "create index concurrently if not exists mt_ok on public.orders (status);")
    # A failure only running can find (a missing column is refused before anything runs, see test_faults)
    bad = write(tmp_path, "002_bad.sql", "create unique index concurrently if not exists mt_two on public.orders "
                                         "(status);")
    write(tmp_path, "003_after.sql", "create index concurrently if not exists mt_three on public.orders (updated_at);")
    with pytest.raises(PgOpsError, match=r"002_bad.sql failed: building public.mt_two failed: could not create "
                                         r"unique index \"mt_two\"; nothing after it ran"):
        migrate.apply(db, settings(tmp_path))
    rows = ledger_rows(db)
    assert rows["001"] == ("success", None) and rows["002"][0] == "failed" and "mt_two" in str(rows["002"][1])
    assert "003" not in rows and index_state(db, "mt_three") == [] and index_state(db, "mt_two") == []

    bad.write_text(bad.read_text().replace("unique index", "index"))
    report = migrate.apply(db, settings(tmp_path))
    assert [a.version for a in report.applied] == ["002", "003"]
    assert index_state(db, "mt_two") == [(True, True)] and index_state(db, "mt_three") == [(True, True)]


def test_applied_file_edited_afterwards_is_refused_until_repaired(db: str, tmp_path: Path) -> None:
    first = write(tmp_path, "001_ok.sql", "create index concurrently if not exists mt_ok on public.orders (status);")
    migrate.apply(db, settings(tmp_path))
    first.write_text(first.read_text() + "\n-- an innocent-looking edit\n")
    write(tmp_path, "002_next.sql", "create index concurrently if not exists mt_next on public.orders (updated_at);")
    with pytest.raises(PgOpsError, match=r"001_ok.sql was applied on .* with checksum \w{12} but the file now "
                                         r"has \w{12}.*pg-ops migrate --repair 001"):
        migrate.apply(db, settings(tmp_path))
    assert index_state(db, "mt_next") == []
    assert "now accepts" in migrate.repair(db, settings(tmp_path), "001")
    assert [a.version for a in migrate.apply(db, settings(tmp_path)).applied] == ["002"]


def test_squawk_rejection_changes_nothing(db: str, tmp_path: Path) -> None:
    write(tmp_path, "001_ok.sql", "create index concurrently if not exists mt_ok on public.orders (status);")
    write(tmp_path, "002_blocking.sql", "create index mt_plain on public.orders (updated_at);", transaction="on")
    with pytest.raises(PgOpsError, match=r"lint rejects 002_blocking.sql line 5: .*"
                                         r"require-concurrent-index-creation: .*nothing was applied"):
        migrate.apply(db, settings(tmp_path))
    assert index_state(db, "mt_ok") == [] and ledger_rows(db) == {}


def _writer_holding_a_row_lock(dsn: str) -> psycopg.Connection[Any]:
    """An application transaction that updated an order and has not committed."""
    holder = connect(dsn, autocommit=False, application_name="test app writer")
    holder.execute("update orders set updated_at = updated_at where id = (select id from orders limit 1)")
    return holder


def test_killed_index_build_leaves_invalid_index_that_a_rerun_replaces(db: str, tmp_path: Path) -> None:
    """What a crash mid-build leaves behind (an INVALID index), and a rerun ending with one valid index."""
    statement = "create index concurrently if not exists mt_killed on public.orders (delivered_at)"
    holder = _writer_holding_a_row_lock(db)
    builder = connect(db, application_name="crashed rollout")
    builder_pid = builder.info.backend_pid
    failure: list[BaseException] = []

    def build() -> None:
        try:
            builder.execute(statement)
        except psycopg.Error as exc:
            failure.append(exc)

    thread = threading.Thread(target=build)
    thread.start()
    with connection(db) as watcher:
        wait_for(lambda: watcher.execute("select count(*) as n from pg_stat_progress_create_index where pid = %s",
                                         (builder_pid,)).fetchone() == {"n": 1})
        watcher.execute("select pg_terminate_backend(%s)", (builder_pid,))
    thread.join(10)
    holder.rollback()
    holder.close()
    [(valid, _ready)] = index_state(db, "mt_killed")
    assert failure and not valid  # the crashed build left an INVALID index behind

    write(tmp_path, "001_killed.sql", statement + ";")
    lines: list[str] = []
    report = migrate.apply(db, settings(tmp_path), log=lines.append)
    assert report.applied[0].detail == "mt_killed built"
    assert any("INVALID leftover of a failed build (same definition); dropping it" in line for line in lines)
    assert index_state(db, "mt_killed") == [(True, True)]


def test_invalid_index_with_another_definition_is_not_dropped(db: str, tmp_path: Path) -> None:
    with connection(db) as conn:
        conn.execute("create index mt_other on public.orders (status)")
        conn.execute("update pg_index set indisvalid = false where indexrelid = 'mt_other'::regclass")
    write(tmp_path, "001_other.sql", "create index concurrently if not exists mt_other on public.orders (created_at);")
    with pytest.raises(PgOpsError, match=r"public.mt_other exists with another definition .*will not replace it"):
        migrate.apply(db, settings(tmp_path))
    assert index_state(db, "mt_other") == [(False, True)]


def test_build_in_progress_elsewhere_is_told_apart_from_a_dead_one(db: str, tmp_path: Path) -> None:
    statement = "create index concurrently if not exists mt_busy on public.orders (estimated_delivery_at)"
    holder = _writer_holding_a_row_lock(db)
    other = connect(db, application_name="someone else's build")
    thread = threading.Thread(target=lambda: other.execute(statement))
    thread.start()
    try:
        with connection(db) as watcher:
            wait_for(lambda: watcher.execute("select count(*) as n from pg_stat_progress_create_index where pid = %s",
                                             (other.info.backend_pid,)).fetchone() == {"n": 1})
        write(tmp_path, "001_busy.sql", statement + ";")
        with pytest.raises(PgOpsError, match=rf"mt_busy is being built right now by pid {other.info.backend_pid}"):
            migrate.apply(db, settings(tmp_path))
    finally:
        holder.rollback()
        holder.close()
        thread.join(20)
        other.close()
    assert index_state(db, "mt_busy") == [(True, True)]  # the other build finished; nothing was dropped


def test_lock_timeout_retries_then_names_the_blocker(db: str, tmp_path: Path) -> None:
    write(tmp_path, "001_default.sql", "alter table public.orders alter column delivery_address set default '';",
          step="rls_policies", transaction="on")
    blocker = connect(db, autocommit=False, application_name="report query")
    blocker.execute("select count(*) from orders")  # holds ACCESS SHARE until it ends
    lines: list[str] = []
    try:
        with pytest.raises(PgOpsError, match=rf"lock_timeout \(150 ms\) hit 3 times; blocked by pid "
                                             rf"{blocker.info.backend_pid} \(postgres, report query, idle in "
                                             rf"transaction"):
            migrate.apply(db, settings(tmp_path, lock_timeout_ms=150, ddl_attempts=3, retry_base_s=0.05),
                          log=lines.append)
    finally:
        blocker.rollback()
        blocker.close()
    assert sum("retry" in line for line in lines) == 2
    assert ledger_rows(db)["001"][0] == "failed"
    assert [a.version for a in migrate.apply(db, settings(tmp_path)).applied] == ["001"]


def test_two_rollouts_at_once_one_waits_and_nothing_is_applied_twice(db: str, tmp_path: Path) -> None:
    """Flyway#1654 as a regression test: the lock holder and the waiter never stall a concurrent build."""
    write(tmp_path, "001_slow.sql", "create index concurrently if not exists mt_slow on public.orders (total_amount);")
    holder = _writer_holding_a_row_lock(db)  # keeps the first build waiting until released
    results: dict[str, Any] = {}

    def rollout(name: str, wait_s: float) -> None:
        try:
            results[name] = migrate.apply(db, settings(tmp_path, runner_lock_wait_s=wait_s))
        except PgOpsError as exc:
            results[name] = exc

    first = threading.Thread(target=rollout, args=("first", 5))
    first.start()
    with connection(db) as watcher:
        wait_for(lambda: watcher.execute("select count(*) as n from pg_stat_progress_create_index").fetchone()
                 == {"n": 1})
    impatient = threading.Thread(target=rollout, args=("impatient", 0.3))
    patient = threading.Thread(target=rollout, args=("patient", 60))
    impatient.start()
    patient.start()
    impatient.join(10)
    assert isinstance(results["impatient"], PgOpsError)
    assert "another pg_ops rollout is running" in str(results["impatient"]) and "pg_ops runner lock" in str(
        results["impatient"])
    time.sleep(1)  # the patient runner now polls while the first one builds: the build must still finish
    holder.rollback()
    holder.close()
    first.join(30)
    patient.join(30)
    assert [a.version for a in results["first"].applied] == ["001"]
    assert results["patient"].applied == [] and results["patient"].skipped == [f"{tmp_path.name}/001_slow.sql"]
    assert index_state(db, "mt_slow") == [(True, True)]
    assert ledger_rows(db) == {"001": ("success", None)}


def test_migrate_command_plans_and_applies(db: str) -> None:
    plan = pg_ops("migrate", "--plan", env={"PG_OPS_DSN": db})
    assert plan.returncode == 0, plan.stderr
    assert "pending  migrations/001_orders_driver_created_at.sql" in plan.stdout
    assert ledger_rows(db) == {}
    assert "PG_OPS_DSN is not set" in one_line_error(pg_ops("migrate", "--plan"))


def test_a_deadlock_with_the_application_costs_us_a_retry_never_the_application(db: str, tmp_path: Path) -> None:
    """An app transaction inserts an order, then its items; our migration locks both tables in between.

    lock_timeout stays below deadlock_timeout, so our wait ends first and the app's transaction survives
    (with lock_timeout above it, PostgreSQL's deadlock detector killed the app's insert: seen under load).
    """
    write(tmp_path, "001_both.sql", "lock table public.order_items, public.orders in access exclusive mode;\n"
                                    "comment on table public.orders is 'placed by customers';",
          step="rls_policies", transaction="on")
    app = connect(db, autocommit=False, application_name="app checkout")
    order = app.execute("insert into orders (id, customer_id, restaurant_id, status, subtotal, delivery_fee, "
                        "total_amount, delivery_address) select gen_random_uuid(), customer_id, restaurant_id, "
                        "'pending', 1, 1, 2, 'x' from orders limit 1 returning id").fetchone()
    assert order is not None
    lines: list[str] = []
    result: dict[str, Any] = {}
    migration = threading.Thread(target=lambda: result.setdefault("report", migrate.apply(
        db, settings(tmp_path, ddl_attempts=6, retry_base_s=0.3), log=lines.append)))
    migration.start()
    with connection(db) as watcher:  # the migration holds order_items and waits for orders
        wait_for(lambda: watcher.execute("select count(*) as n from pg_locks where not granted and "
                                         "mode = 'AccessExclusiveLock'").fetchone() == {"n": 1})
    app.execute("insert into order_items (id, order_id, product_id, quantity, unit_price) select "
                "(select max(id) + 1 from order_items), %s, product_id, 1, 1 from order_items limit 1", (order["id"],))
    app.commit()
    app.close()
    migration.join(30)
    assert [a.version for a in result["report"].applied] == ["001"]
    assert any("lock_timeout" in line and "retry" in line for line in lines)


def test_the_targets_settings_reach_every_connection_and_ddl_lifts_only_the_statement_timeout(
        db: str, tmp_path: Path) -> None:
    """One object from the resource down: the application name and timeouts the operator configured are on
    the sessions the engine opens; a migration's statements run without the statement timeout."""
    target = Target(dsn=db, application_name="rollout-2am", statement_timeout_ms=4321)
    write(tmp_path, "001_seen.sql", "create table public.mt_seen as select current_setting('application_name') as app, "
                                    "current_setting('statement_timeout') as timeout;", step="rls_policies",
          transaction="on")
    migrate.apply(target, settings(tmp_path))
    with connection(db) as conn:
        assert conn.execute("select app, timeout from public.mt_seen").fetchone() == {
            "app": "rollout-2am migrate", "timeout": "0"}
        conn.execute("drop table public.mt_seen")
    with target.connect("metadata") as conn:
        assert conn.execute("select current_setting('application_name') as app, "
                            "current_setting('statement_timeout') as timeout").fetchone() == {
            "app": "rollout-2am metadata", "timeout": "4321ms"}
    assert ledger_rows(db) == {"001": ("success", None)}


def test_a_file_for_an_extension_the_server_lacks_waits_until_the_server_offers_it(db: str, tmp_path: Path) -> None:
    write(tmp_path, "001_ok.sql", "create index concurrently if not exists mt_base on public.orders (status);")
    needs = write(tmp_path, "002_needs.sql", "create index concurrently if not exists mt_needs on public.orders "
                  "(updated_at);")
    needs.write_text(needs.read_text().replace("-- pg_ops: transaction=off",
                                               "-- pg_ops: transaction=off\n-- pg_ops: when_available=pg_ops_absent"))
    write(tmp_path, "003_after.sql", "create index concurrently if not exists mt_after on public.orders "
          "(delivered_at);")
    logged: list[str] = []
    report = migrate.apply(db, settings(tmp_path), log=logged.append)
    assert [a.version for a in report.applied] == ["001", "003"]  # what follows it is not held back
    assert index_state(db, "mt_needs") == [] and "002" not in ledger_rows(db)
    assert any(line.startswith("skipping") and "002_needs.sql" in line and "pg_ops_absent" in line for line in logged)
    plan = migrate.plan(db, settings(tmp_path))
    assert plan.pending == [] and [f.version for f in plan.unavailable] == ["002"]  # nothing to back up for
    # the day the server offers the extension, the file is pending and applies
    offered = migrate.applicable(plan.unavailable, frozenset({"pg_ops_absent"}))
    assert [f.version for f in offered] == ["002"]
