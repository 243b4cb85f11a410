"""The monitoring views and the read-only role on a real server: plausible values, and nothing writable."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from pg_ops.engine.db import connect, connection
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.monitoring import monitoring_schema
from pg_ops.local.sandbox import SandboxInfo
from tests import servers

PASSWORD = "Monitor-pw-5512"
VIEWS = {"cache_hit_ratio", "connections", "database_size", "duplicate_indexes", "index_usage", "invalid_indexes",
         "lock_waits",
         "query_performance", "rpc_performance", "slow_queries", "statements_info", "table_statistics",
         "unindexed_foreign_keys"}


@pytest.fixture(scope="module")
def monitored(demo_db: str) -> Iterator[str]:
    """The demo in its before state, with the monitoring schema; yields the monitoring role's DSN."""
    report = monitoring_schema.apply(demo_db, PASSWORD)
    assert report.extension_schema == "extensions" and set(report.views) == VIEWS
    yield monitoring_schema.role_dsn(demo_db, PASSWORD)


def test_every_view_reads_plausibly_as_the_monitoring_role(monitored: str, demo_db: str) -> None:
    with connection(demo_db) as conn:  # some traffic for the statistics
        for _ in range(3):
            conn.execute("select count(*) from orders where status = 'pending'")
    views = monitoring_schema.read_views(monitored)
    assert set(views) == VIEWS
    assert 0 < len(views["query_performance"]) <= 100
    assert any("from orders where status" in str(r["query"]) for r in views["query_performance"])
    [connections] = views["connections"]
    assert connections["total"] >= 1 and connections["verdict"] in ("HEALTHY", "UNDERUTILIZED", "TOO_MANY")
    [size] = views["database_size"]
    assert size["total_bytes"] > size["index_bytes"] > 0 and size["table_bytes"] > 0
    assert {r["table_name"] for r in views["table_statistics"]} >= {"orders", "order_items", "products"}
    assert {r["usage"] for r in views["index_usage"]} <= {"NEVER_USED", "RARELY_USED", "FREQUENTLY_USED",
                                                            "CONSTRAINT_ONLY", "FOREIGN_KEY_ONLY"}
    assert views["cache_hit_ratio"][0]["scope"] == "database" and 0 < views["cache_hit_ratio"][0]["hit_ratio"] <= 100
    [info] = views["statements_info"]
    assert info["entries"] > 0 and info["max_entries"] == 10000
    # the before state's known gap: order_items.order_id has no index
    assert ("order_items", "order_id") in {(r["table_name"], r["columns"]) for r in views["unindexed_foreign_keys"]}


def test_sizes_are_the_planner_pages_and_match_the_files_after_vacuum(monitored: str, demo_db: str) -> None:
    tables = ("public.orders", "public.order_items", "public.products")
    with connection(demo_db) as conn:
        conn.execute("vacuum analyze public.orders, public.order_items, public.products")
        # the main forks of the table, its TOAST table and every index of both: what relpages counts
        exact = {r["relname"]: int(r["bytes"]) for r in conn.execute(
            "select t.relname, pg_relation_size(t.oid) + coalesce(pg_relation_size(nullif(t.reltoastrelid, 0)), 0)"
            " + (select coalesce(sum(pg_relation_size(i.indexrelid)), 0) from pg_index i"
            "    where i.indrelid in (t.oid, t.reltoastrelid)) as bytes"
            " from pg_class t where t.oid = any(%s::regclass[])", (list(tables),))}
    views = monitoring_schema.read_views(monitored)
    estimated = {r["table_name"]: r["total_bytes"] for r in views["table_statistics"] if r["schema"] == "public"}
    assert {table: estimated[table] for table in exact} == exact
    assert all(type(r["total_bytes"]) is int for r in views["table_statistics"])
    [size] = views["database_size"]
    assert type(size["table_bytes"]) is int and type(size["index_bytes"]) is int


def test_a_broken_view_fails_alone_and_a_missing_one_is_named(monitored: str, demo_db: str) -> None:
    with connection(demo_db) as conn:
        conn.execute("alter view monitoring.rpc_performance rename to rpc_performance_gone")
        conn.execute("create view monitoring.slow_queries_broken as select 1 / 0 as boom")
        conn.execute("grant select on monitoring.slow_queries_broken to monitoring")
    try:
        with connection(monitored) as conn:
            reads = {r.view: r for r in monitoring_schema.read_each(
                conn, monitoring_schema.expected_views() + ["slow_queries_broken"])}
        with pytest.raises(PgOpsError, match=r"^monitoring.rpc_performance failed: .*does not exist"):
            monitoring_schema.read_views(monitored)
    finally:
        with connection(demo_db) as conn:
            conn.execute("drop view monitoring.slow_queries_broken")
            conn.execute("alter view monitoring.rpc_performance_gone rename to rpc_performance")
    assert "does not exist" in (reads["rpc_performance"].error or "")
    assert "division by zero" in (reads["slow_queries_broken"].error or "")
    assert all(r.error is None and r.seconds > 0 for v, r in reads.items()
               if v not in ("rpc_performance", "slow_queries_broken"))
    assert reads["query_performance"].rows


def test_views_see_faults_as_they_happen(monitored: str, demo_db: str) -> None:
    with connection(demo_db) as conn:
        conn.execute("create index mon_dup_a on public.orders (status)")
        conn.execute("create index mon_dup_b on public.orders (status)")
        conn.execute("create index mon_broken on public.orders (updated_at)")
        conn.execute("update pg_index set indisvalid = false where indexrelid = 'mon_broken'::regclass")
    idle = connect(demo_db, autocommit=False, application_name="forgotten transaction")
    idle.execute("select 1")

    def sleep() -> None:
        with connection(demo_db, application_name="slow report") as conn:
            conn.execute("select pg_sleep(2.5)")

    sleeper = threading.Thread(target=sleep)
    sleeper.start()
    try:
        time.sleep(1.6)
        views = monitoring_schema.read_views(monitored)
    finally:
        idle.rollback()
        idle.close()
        sleeper.join()
        with connection(demo_db) as conn:
            conn.execute("drop index mon_dup_a, mon_dup_b, mon_broken")
    assert {r["index_name"] for r in views["invalid_indexes"]} == {"mon_broken"}
    assert ("public.mon_dup_b", "public.mon_dup_a", "DUPLICATE") in {
        (r["redundant_index"], r["covered_by"], r["kind"]) for r in views["duplicate_indexes"]}
    assert views["connections"][0]["idle_in_transaction"] >= 1
    [slow] = [r for r in views["slow_queries"] if "pg_sleep" in str(r["query"])]
    assert slow["severity"] == "SLOW" and slow["running_s"] > 1


def _every_table(dsn: str) -> list[tuple[str, str, str]]:
    """(schema, table, first column) of every table of the database, the system catalogs excepted."""
    with connection(dsn) as conn:
        return [(r["schema"], r["name"], r["col"]) for r in conn.execute(
            "select n.nspname as schema, c.relname as name, (select attname from pg_attribute where attrelid = c.oid "
            "and attnum = 1) as col from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') "
            "and n.nspname not like 'pg\\_toast%'")]


@pytest.mark.parametrize("verb", ["insert", "update", "delete", "truncate", "select"])
def test_the_role_can_change_nothing_and_read_only_the_views(monitored: str, demo_db: str, verb: str) -> None:
    tables = _every_table(demo_db)
    assert len(tables) >= 8
    statements = {"insert": "insert into {} default values", "update": "update {} set {col} = {col} where false",
                  "delete": "delete from {} where false", "truncate": "truncate {}", "select": "select from {} limit 1"}
    with connection(monitored) as conn:
        for schema, table, column in tables:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql.SQL(statements[verb]).format(sql.Identifier(schema, table),
                                                              col=sql.Identifier(column)))


def test_the_role_cannot_create_anything(monitored: str) -> None:
    with connection(monitored) as conn:
        for schema in ("public", "monitoring", "extensions", "pgops_demo"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql.SQL("create table {} (x int)").format(sql.Identifier(schema, "intruder")))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("create schema intruder")


def test_the_password_never_reaches_the_server_in_clear(monitored: str, demo_db: str, pg: SandboxInfo) -> None:
    monitoring_schema.apply(demo_db, PASSWORD)  # again: the ALTER ROLE path
    with connection(demo_db) as conn:
        recorded = conn.execute("select count(*) as n from extensions.pg_stat_statements where query like %s",
                                (f"%{PASSWORD}%",)).fetchone()
    assert recorded == {"n": 0}
    assert PASSWORD not in open(pg.log_file, encoding="utf-8", errors="replace").read()


def test_a_second_apply_changes_nothing_and_says_so(monitored: str, demo_db: str) -> None:
    report = monitoring_schema.apply(demo_db, PASSWORD)
    assert report.applied == [] and report.role == "updated"


def test_password_unset_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MONITORING_PASSWORD", raising=False)
    with pytest.raises(PgOpsError, match="MONITORING_PASSWORD is not set"):
        monitoring_schema.password_from_env()


def test_without_pg_stat_statements_preloaded_nothing_is_created(pg: SandboxInfo) -> None:
    with servers.postgres_cluster({"shared_preload_libraries": "''"}) as plain:
        with pytest.raises(PgOpsError, match="pg_stat_statements is not in shared_preload_libraries"):
            monitoring_schema.apply(plain.dsn("postgres"), PASSWORD)
        with connection(plain.dsn("postgres")) as conn:
            assert conn.execute("select count(*) as n from pg_namespace where nspname = 'monitoring'").fetchone() == {
                "n": 0}


def test_without_an_extensions_schema_pg_stat_statements_goes_to_public(pg: SandboxInfo) -> None:
    dsn = servers.create_database(pg, "no_extensions_schema")
    try:
        report = monitoring_schema.apply(dsn, PASSWORD)
        assert report.extension_schema == "public" and set(report.views) == VIEWS
        assert monitoring_schema.read_views(monitoring_schema.role_dsn(dsn, PASSWORD))["statements_info"]
    finally:
        servers.drop_database(pg, "no_extensions_schema")


def test_a_view_whose_columns_changed_is_upgraded_in_place(monitored: str, demo_db: str) -> None:
    """An earlier pg_ops shipped duplicate_indexes with regclass-typed names; CREATE OR REPLACE cannot
    change that, so the files drop and recreate their view (seen on a long-lived sandbox)."""
    with connection(demo_db) as conn:
        conn.execute("drop view monitoring.duplicate_indexes")
        conn.execute("create view monitoring.duplicate_indexes as select 'pg_class'::regclass::text collate \"C\" "
                     "as redundant_index where false")
        conn.execute("delete from pgops.schema_migrations where version = 'R:duplicate_indexes'")
    report = monitoring_schema.apply(demo_db, PASSWORD)
    assert report.applied == ["monitoring/duplicate_indexes.sql"]
    with connection(monitored) as conn:  # the role can read the new definition (grants re-applied)
        columns = [c.name for c in conn.execute("select * from monitoring.duplicate_indexes").description or []]
    assert columns == ["schema", "table_name", "redundant_index", "covered_by", "kind", "redundant_bytes"]


def test_a_wrong_monitoring_password_names_monitoring_password(monitored: str) -> None:
    wrong = monitored.replace(PASSWORD, "not-the-password")
    with pytest.raises(PgOpsError) as refused:
        monitoring_schema.read_views(wrong)
    message = str(refused.value)
    assert message.endswith(f"; {monitoring_schema.ROLE_PASSWORD_HINT}") and "PG_OPS_DSN" not in message
    assert "not-the-password" not in message and "\n" not in message
