"""The benchmark suite and its runner on a real database, and its bad input."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from pg_ops.defs.resources import PostgresTarget, PushgatewayTarget
from pg_ops.defs.validation import ValidationConfig, validation
from pg_ops.engine.db import connection
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.migrations import migrate
from pg_ops.engine.proof import benchmark, suite, verdicts
from pg_ops.local.sandbox import SandboxInfo
from tests import servers

SUITE = suite.load()


@pytest.fixture(scope="module")
def rolled_out(demo_db: str) -> str:
    migrate.apply(demo_db, migrate.Settings.platform())
    return demo_db


def test_each_query_runs_as_its_user_with_its_index(rolled_out: str) -> None:
    run = benchmark.run_suite(rolled_out, SUITE, "test", executions=20, warmup=2, budget_s=5)
    results = run.by_name()
    assert set(results) == {"admin_order_list", "admin_order_list_page2", "analytics_dashboard",
                            "analytics_dashboard_postgrest", "analytics_dashboard_rolling", "analytics_dashboard_today",
                            "customer_history",
                            "driver_orders", "product_search", "restaurant_catalog", "restaurant_dashboard",
                            "restaurant_dashboard_rolling", "search_prefix", "search_two_words", "search_word_common",
                            "search_word_rare", "search_word_top", "search_word_uncommon"}
    for name, result in results.items():
        assert result.skipped is None and result.executions == 20, name
        assert 0 < result.p50 <= result.p95 <= result.p99, name  # type: ignore[operator]
        for index in next(q for q in SUITE if q.name == name).expect_indexes:
            assert set(index.split("|")) & set(result.indexes_used), (name, result.plan_nodes)
        assert not {"orders", "products"} & set(result.seq_scans), (name, result.plan_nodes)
    # the analytics functions' own statements were planned too, through auto_explain
    assert any("platform_hourly_stats" in node for node in results["analytics_dashboard_rolling"].plan_nodes)
    assert any("daily_restaurant_stats" in node for node in results["restaurant_dashboard_rolling"].plan_nodes)


def test_a_search_class_runs_the_old_search_with_its_own_words_as_its_baseline() -> None:
    before = {q.name: q for q in suite.load(baseline=True)}
    after = {q.name: q for q in SUITE}
    old_search = suite.parse(suite.sql_dir() / "benchmarks" / "product_search.baseline.sql")
    for name in ("search_word_top", "search_prefix", "search_two_words"):
        assert before[name].statements == old_search.statements and before[name].baseline
        assert before[name].params_sql == after[name].params_sql != old_search.params_sql


def test_a_baseline_directive_naming_a_missing_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "x.sql").write_text("-- pg_ops: baseline=nothere.baseline.sql\nselect 1 as a;\nselect $1;\n")
    with pytest.raises(PgOpsError, match="x.sql: baseline=nothere.baseline.sql is not a .baseline.sql file"):
        suite.load(tmp_path, baseline=True)


def test_rls_is_in_force_while_measuring(rolled_out: str) -> None:
    """The runner measures as the user: this statement divides by zero unless RLS shows one customer only."""
    query = next(q for q in SUITE if q.name == "customer_history")
    probe = "select 1 / (case when count(distinct customer_id) = 1 then 1 else 0 end) as ok from public.orders"
    as_user = suite.SuiteQuery(**{**query.__dict__, "statements": (probe,), "param_counts": (0,)})
    assert benchmark.run_query(rolled_out, as_user, "x", executions=3, warmup=1, budget_s=5).executions == 3
    as_superuser = suite.SuiteQuery(**{**as_user.__dict__, "role": "postgres"})
    with pytest.raises(PgOpsError, match="division by zero"):
        benchmark.run_query(rolled_out, as_superuser, "x", executions=3, warmup=1, budget_s=5)


def test_the_time_budget_bounds_a_slow_query_and_says_so(rolled_out: str) -> None:
    query = next(q for q in suite.load(baseline=True) if q.name == "analytics_dashboard")
    result = benchmark.run_query(rolled_out, query, "x", executions=10_000, warmup=1, budget_s=0.3)
    assert result.budget_hit and 1 <= result.executions < 10_000


def test_results_are_kept_and_the_latest_run_is_found(rolled_out: str) -> None:
    first = benchmark.run_suite(rolled_out, SUITE[:2], "keep", executions=3, warmup=1)
    benchmark.save(rolled_out, first)
    second = benchmark.run_suite(rolled_out, SUITE[:2], "keep", executions=3, warmup=1)
    benchmark.save(rolled_out, second)
    latest = benchmark.latest(rolled_out, "keep")
    assert {str(r["run_id"]) for r in latest.values()} == {second.run_id}
    assert {str(r["run_id"]) for r in benchmark.latest(rolled_out, "keep", before_run=second.run_id).values()} == {
        first.run_id}


def test_syntax_error_in_a_suite_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "broken.sql"
    bad.write_text("-- pg_ops: role=authenticated\n\nselect 1 as sub;\n\nselect id frm public.orders;\n")
    with pytest.raises(PgOpsError, match=r"suite file broken.sql: SQL syntax error at line 5"):
        suite.parse(bad)


def test_unknown_role_is_one_line(rolled_out: str, tmp_path: Path) -> None:
    ghost = tmp_path / "ghost.sql"
    ghost.write_text("-- pg_ops: role=ghost\n\nselect null as sub where $1 is not null;\n\nselect 1;\n")
    with pytest.raises(PgOpsError, match=r"suite file ghost.sql: role 'ghost' does not exist in the target database"):
        benchmark.run_suite(rolled_out, [suite.parse(ghost)], "test")


def test_database_without_the_platform_names_the_missing_tables(pg: SandboxInfo) -> None:
    dsn = servers.create_database(pg, "not_the_platform")
    try:
        with pytest.raises(PgOpsError, match=r"needs tables this database does not have: .*public.orders.*"
                                             r"public.products"):
            benchmark.run_suite(dsn, SUITE, "test")
    finally:
        servers.drop_database(pg, "not_the_platform")


def test_empty_tables_skip_with_the_reason_never_a_pass(pg: SandboxInfo, demo_template: str) -> None:
    dsn = servers.create_database(pg, "empty_platform", template=demo_template)
    try:
        with connection(dsn) as conn:
            conn.execute("truncate public.order_items, public.orders, public.products, public.restaurants, "
                         "public.profiles, auth.users cascade")
        run = benchmark.run_suite(dsn, suite.load(baseline=True), "test", executions=3)
        assert {r.skipped for r in run.results} == {"no rows to draw parameters from (empty tables)"}
        benchmark.save(dsn, run)
        verdict = verdicts.targets_met(benchmark.latest(dsn, "test"), {"driver_orders": 10})
        assert not verdict.passed and verdict.skipped and verdict.description.startswith("skipped: no rows")
        assert verdicts.functions_match_reference(dsn).skipped
    finally:
        servers.drop_database(pg, "empty_platform")


@pytest.mark.parametrize("text, message", [
    ("driver_orders=fast", "target for driver_orders must be a number of milliseconds, got 'fast'"),
    ("driver_orders=-3", "target for driver_orders must be a positive number"),
    ("nobody=3", "target for unknown query 'nobody'"),
])
def test_bad_targets_are_one_line(text: str, message: str) -> None:
    with pytest.raises(PgOpsError, match=message):
        verdicts.parse_targets(text, SUITE)
    assert verdicts.parse_targets("driver_orders=2", SUITE)["driver_orders"] == 2.0


def test_validation_with_a_non_number_target_fails_before_measuring(rolled_out: str) -> None:
    before = benchmark.latest(rolled_out, "validation")
    with dg.instance_for_test() as instance:
        bad = dg.RunConfig(ops={"validation": ValidationConfig(targets_ms="driver_orders=x")})
        resources = {"target": PostgresTarget(dsn=rolled_out), "pushgateway": PushgatewayTarget()}
        result = dg.materialize([validation], instance=instance, raise_on_error=False, resources=resources,
                                run_config=bad)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    message = failure.step_failure_data.error.message  # type: ignore[union-attr]
    assert "target for driver_orders must be a number of milliseconds, got 'x'" in message
    assert benchmark.latest(rolled_out, "validation") == before  # nothing measured, nothing recorded


def test_validation_pushes_its_outcome_to_a_real_pushgateway(rolled_out: str) -> None:
    with servers.pushgateway() as url, dg.instance_for_test() as instance:
        result = dg.materialize([validation], instance=instance,
                                resources={"target": PostgresTarget(dsn=rolled_out),
                                           "pushgateway": PushgatewayTarget(url=url)},
                                run_config=dg.RunConfig(ops={"validation": ValidationConfig(executions=5, warmup=1)}))
        assert result.success
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
            exposed = response.read().decode()
    database = rolled_out.split("://", 1)[1]
    assert f'pg_ops_validation_p95_seconds{{database="{database}",instance="",job="pg_ops_validation",' \
           f'query="driver_orders"}}' in exposed
    assert f'pg_ops_validation_passed{{database="{database}",instance="",job="pg_ops_validation"}} 1' in exposed
    assert "pg_ops_validation_timestamp_seconds{" in exposed


def test_validation_survives_a_pushgateway_that_is_down(rolled_out: str) -> None:
    closed = f"http://127.0.0.1:{servers.sandbox.free_port()}"
    with dg.instance_for_test() as instance:
        result = dg.materialize([validation], instance=instance,
                                resources={"target": PostgresTarget(dsn=rolled_out),
                                           "pushgateway": PushgatewayTarget(url=closed, timeout_s=2)},
                                run_config=dg.RunConfig(ops={"validation": ValidationConfig(executions=3, warmup=1)}))
    assert result.success
    [event] = result.get_asset_materialization_events()
    assert str(event.materialization.metadata["pushgateway"].value).startswith(f"not pushed: Pushgateway {closed}")


def test_nightly_schedule_targets_validation_only() -> None:
    from pg_ops.definitions import defs

    schedule = defs.resolve_schedule_def("nightly_validation")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 3 * * *", "UTC")
    job = defs.resolve_job_def("nightly_validation_job")
    assert job.asset_layer.executable_asset_keys == {dg.AssetKey("validation")}  # nothing that changes the database


def test_regression_rule_ignores_jitter_and_catches_a_lost_index() -> None:
    def run(p95: float) -> dict[str, dict[str, object]]:
        return {"driver_orders": {"p95_ms": p95, "skipped": None}}

    assert verdicts.no_regression(run(3.7), run(1.4), tolerance=1.0, slack_ms=5.0).passed  # noise
    lost = verdicts.no_regression(run(14.0), run(1.4), tolerance=1.0, slack_ms=5.0)
    assert not lost.passed and lost.description == "driver_orders p95 1.4 -> 14.0 ms"
    assert verdicts.no_regression(run(1.0), {}, tolerance=1.0, slack_ms=5.0).description.startswith("no earlier")
