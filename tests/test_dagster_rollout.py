"""The rollout as Dagster runs it: every step, its metadata, its checks, and a no-op second run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from pg_ops.definitions import defs
from pg_ops.defs.backup import BackupConfig
from pg_ops.defs.rollback import RollbackConfig
from pg_ops.defs.runs import DATABASE_TAG
from pg_ops.engine.db import connection
from pg_ops.engine.migrations import migrate


@pytest.fixture(scope="module")
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as test_instance:
        yield test_instance


def _run(instance: dg.DagsterInstance, dsn: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("PG_OPS_DSN", dsn)
    monkeypatch.setenv("MONITORING_PASSWORD", "Rollout-test-monitor-1")
    return defs.resolve_job_def("rollout_job").execute_in_process(
        instance=instance, raise_on_error=False,
        run_config=dg.RunConfig(ops={"backup": BackupConfig(folder=str(folder))}))


def _metadata(result: Any) -> dict[str, dict[str, Any]]:
    return {e.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()}
            for e in result.get_asset_materialization_events()}


def test_first_run_applies_everything_and_the_second_changes_nothing(
        demo_db: str, instance: dg.DagsterInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _run(instance, demo_db, tmp_path, monkeypatch)
    assert first.success
    meta = _metadata(first)
    assert list(meta) == ["preflight", "baseline_performance", "backup", "index_migrations", "policy_lint",
                          "rls_policies",
                          "rpc_functions", "validation", "monitoring_schema", "rollout_report", "monitoring_stack"]
    page = Path(meta["rollout_report"]["report"])
    assert page.is_file() and page.name == "report.html" and (page.parent / "p95_before_after.png").is_file()
    assert meta["rollout_report"]["indexes_added"] >= 10 and meta["rollout_report"]["index_bytes"] > 0
    met, total = meta["rollout_report"]["targets_met"].split(" of ")
    assert int(total) >= 10 and met == total  # the same verdict queries_meet_targets gives below
    text = page.read_text()
    assert "orders_driver_id_created_at_idx" in text and "index_migrations" in text and "driver_orders" in text
    assert meta["monitoring_stack"]["not_checked"] == "prometheus, alertmanager, exporter"  # no URLs given
    assert meta["monitoring_schema"]["pg_stat_statements_schema"] == "extensions"
    assert meta["backup"]["restore"] == "verified" and Path(meta["backup"]["path"]).is_file()
    assert meta["index_migrations"]["outcome"] == "applied 9 file(s)"
    assert {r.data["valid"] for r in meta["index_migrations"]["indexes"].records} == {True}
    assert len(meta["index_migrations"]["indexes"].records) == 10
    # before the rewrite, the lint saw the slow policies the rewrite then removed (lint_clean: none after)
    assert meta["policy_lint"]["performance"] > 0 and "auth_call_per_row" in str(meta["policy_lint"]["per_rule"])
    assert meta["rls_policies"]["outcome"] == "applied 2 file(s)"  # 009 and 019
    assert any(r.data["policy"] == "orders_select" and "authenticated" in r.data["roles"]
               for r in meta["rls_policies"]["policies"].records)
    assert meta["rpc_functions"]["outcome"] == "applied 16 file(s)"  # 011-018 and 8 functions
    assert len(meta["rpc_functions"]["ledger"].records) == 27
    checks = {c.check_name: c.passed for c in first.get_asset_check_evaluations()}
    assert checks == {"no_invalid_indexes": True, "intended_indexes_exist": True, "ledger_matches_files": True,
                      "functions_have_fixed_search_path": True, "queries_meet_targets": True,
                      "plans_use_expected_indexes": True, "functions_match_pandas": True,
                      "search_ranking_matches_sql": True, "rls_unchanged": True, "no_regression": True,
                      "lint_clean": True}

    second = _run(instance, demo_db, tmp_path, monkeypatch)
    assert second.success
    again = _metadata(second)
    assert again["backup"]["outcome"] == "no-op: nothing pending"
    assert again["baseline_performance"]["outcome"].startswith("no-op: rollout already applied")
    assert {again[k]["outcome"] for k in ("index_migrations", "rls_policies", "rpc_functions")} == {
        "no-op: already applied"}
    assert again["monitoring_schema"]["outcome"] == "no-op: views already current"
    assert len(list(tmp_path.glob("*.dump"))) == 1


def test_an_invalid_index_fails_the_blocking_check_and_stops_the_rollout(
        demo_db: str, instance: dg.DagsterInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with connection(demo_db) as conn:
        conn.execute("create index broken_leftover on public.orders (updated_at)")
        conn.execute("update pg_index set indisvalid = false where indexrelid = 'broken_leftover'::regclass")
    try:
        result = _run(instance, demo_db, tmp_path, monkeypatch)
    finally:
        with connection(demo_db) as conn:
            conn.execute("drop index broken_leftover")
    assert not result.success
    evaluations = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert not evaluations["no_invalid_indexes"].passed
    assert "public.broken_leftover" in (evaluations["no_invalid_indexes"].description or "")
    # The failed blocking check says how to undo: this run applied nothing, so the whole rollout.
    assert (evaluations["no_invalid_indexes"].description or "").endswith(
        "; this run applied no file; pg-ops migrate --down-to 0 undoes the whole rollout")
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "rls_policies" not in materialized and "rpc_functions" not in materialized


def test_rollback_job_undoes_the_rollout_and_a_bad_version_is_one_line(
        demo_db: str, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PG_OPS_DSN", demo_db)
    migrate.apply(demo_db, migrate.Settings.platform())  # applied already when the tests above ran: a no-op
    job = defs.resolve_job_def("rollback_job")
    assert job.tags[DATABASE_TAG] == defs.resolve_job_def("rollout_job").tags[DATABASE_TAG]  # one runner per db

    bad = job.execute_in_process(instance=instance, raise_on_error=False,
                                 run_config=dg.RunConfig(ops={"roll_back": RollbackConfig(to_version="99")}))
    assert not bad.success
    failure = next(e for e in bad.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert failure.step_failure_data is not None and failure.step_failure_data.error is not None
    message = failure.step_failure_data.error.message
    assert "--down-to '99': no migration has that version; the versions are 001 to 019" in message
    assert "Traceback" not in message

    planned = job.execute_in_process(instance=instance, run_config=dg.RunConfig(
        ops={"roll_back": RollbackConfig(to_version="010", plan_only=True)}))
    plan_meta = planned.get_step_success_events()[0]
    assert planned.success and plan_meta is not None
    with connection(demo_db) as conn:
        assert conn.execute("select count(*) as n from pgops.schema_migrations where outcome = 'success' "
                            "and step <> 'monitoring_schema'").fetchone() == {"n": 27}  # the plan changed nothing

    done = job.execute_in_process(instance=instance, run_config=dg.RunConfig(
        ops={"roll_back": RollbackConfig(to_version="010")}))
    assert done.success
    output = done.output_for_node("roll_back")
    assert output == "010"
    with connection(demo_db) as conn:
        kept = conn.execute("select outcome, count(*) as n from pgops.schema_migrations "
                            "where step <> 'monitoring_schema' group by 1 order by 1").fetchall()
    assert kept == [{"outcome": "rolled_back", "n": 17}, {"outcome": "success", "n": 10}]
