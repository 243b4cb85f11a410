"""The maintenance run against a live PgBouncer (Debian's 1.18, started as the sandbox starts it): deploy in
the window, verify, roll back; and every fault a 2 a.m. run meets, each one line with the pooler still
serving the application."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg
import pytest

from pg_ops.engine.db import Target, connection
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.pooler import candidate, config, deploy, history, maintenance, metrics
from pg_ops.engine.pooler.deploy import DeployFailed, LivePooler, Policy
from pg_ops.engine.pooler.window import MaintenanceWindow
from pg_ops.engine.processes import free_port
from pg_ops.local import pooler
from pg_ops.local.sandbox import SandboxInfo
from tests import servers

IN_WINDOW = dt.datetime(2026, 12, 1, 2, 30, tzinfo=dt.UTC)
AFTER_WINDOW = dt.datetime(2026, 12, 1, 5, 40, tzinfo=dt.UTC)


@dataclass
class Live:
    info: pooler.PoolerInfo
    target: Target
    run: maintenance.Maintenance

    @property
    def pooler(self) -> LivePooler:
        return self.run.live

    def shown(self) -> dict[str, str]:
        with deploy.open_console(self.pooler) as conn:
            return candidate.running_config(conn)[0]

    def history(self) -> list[dict[str, object]]:
        with connection(self.target) as conn:
            return conn.execute("select outcome, detail, window_note, restarted from pgops.pooler_deployments "
                                "where pooler = %s order by id", (self.pooler.label,)).fetchall()

    def maintain(self, clock: dt.datetime = IN_WINDOW, **changes: object) -> deploy.Deployment:
        run = replace(self.run, **changes)  # type: ignore[arg-type]
        proven = maintenance.prove_candidate(self.target, run)
        return maintenance.deploy_live(self.target, run, proven, clock=lambda: clock)


@pytest.fixture
def live(demo_db: str) -> Iterator[Live]:
    """A PgBouncer in its 'before' state (session pooling) in front of this module's demo database."""
    with servers.sandbox_pooler(demo_db) as (live_pooler, login):
        info = pooler.load(live_pooler.ini.parent.parent)
        assert info is not None
        run = maintenance.Maintenance(settings=config.PoolerSettings(), live=live_pooler,
                                      server_host="127.0.0.1", server_port=int(demo_db.rsplit(":", 1)[1].split("/")[0]),
                                      database=login.database, login=login)
        yield Live(info=info, target=Target(dsn=demo_db), run=run)


class Clients:
    """The application during the run: one kept connection through the pooler querying without pause."""

    def __init__(self, live: Live) -> None:
        self.live, self.done, self.started = live, threading.Event(), threading.Event()
        self.queries = 0
        self.failures: list[str] = []
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        login = self.live.run.login
        try:
            with psycopg.connect(host="127.0.0.1", port=self.live.info.port, dbname=login.database, user=login.user,
                                 password=login.password, prepare_threshold=None, autocommit=True) as conn:
                while not self.done.is_set():
                    try:
                        conn.execute("select current_user, now()").fetchone()
                        self.queries += 1
                        self.started.set()
                    except psycopg.Error as exc:
                        self.failures.append(str(exc))
        except psycopg.Error as exc:
            self.failures.append(f"connect: {exc}")
        finally:
            self.started.set()

    def __enter__(self) -> Clients:
        self.thread.start()
        assert self.started.wait(10) and self.queries > 0, self.failures
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        self.thread.join(timeout=10)


def serves_the_app(live: Live) -> bool:
    login = live.run.login
    with psycopg.connect(host="127.0.0.1", port=live.info.port, dbname=login.database, user=login.user,
                         password=login.password, prepare_threshold=None) as conn:
        with conn.transaction():  # as the app: its role and claims inside the transaction
            conn.execute("set local role authenticated")
            return conn.execute("select count(*) > 0 from public.restaurants").fetchone() == (True,)


def test_a_deploy_in_the_window_reloads_verifies_and_keeps_the_previous_file(live: Live) -> None:
    before = live.shown()
    assert before["pool_mode"] == "session"
    previous_text = live.pooler.ini.read_text()
    with Clients(live) as clients:
        done = live.maintain()
    assert done.outcome == "deployed" and not done.restarted
    assert clients.queries > 0 and clients.failures == []  # a reload drops no client
    shown = live.shown()
    assert shown["pool_mode"] == "transaction" and shown["default_pool_size"] == done.after["default_pool_size"]
    assert {c["key"] for c in done.changes} >= {"pool_mode", "default_pool_size"}
    assert Path(f"{live.pooler.ini}.previous").read_text() == previous_text
    assert "RLS held" in done.smoke and {p["database"] for p in done.pools} >= {live.run.database}
    assert live.history()[-1]["outcome"] == "deployed"
    assert "inside the maintenance window" in str(live.history()[-1]["window_note"])
    again = live.maintain()  # nothing left to change
    assert again.outcome == "unchanged" and again.changes == []


def test_outside_the_window_nothing_changes_unless_overridden_and_the_override_is_recorded(live: Live) -> None:
    before_text = live.pooler.ini.read_text()
    with pytest.raises(PgOpsError, match=r"refused: the maintenance window 02:00–04:00 UTC is closed \(now 05:40 "
                                         r"UTC\); it opens in 20 h 20 min, at 2026-12-02 02:00 UTC") as refused:
        live.maintain(clock=AFTER_WINDOW)
    assert "\n" not in str(refused.value)
    assert live.pooler.ini.read_text() == before_text and live.shown()["pool_mode"] == "session"
    assert live.history()[-1]["outcome"] == "refused"
    done = live.maintain(clock=AFTER_WINDOW, policy=Policy(override_window="incident 4711: pool exhausted"))
    assert done.outcome == "deployed"
    assert live.history()[-1]["window_note"] == ("deploy to the live PgBouncer: OUTSIDE the maintenance window "
                                                 "02:00–04:00 UTC (now 05:40 UTC), by override: incident 4711: pool "
                                                 "exhausted")
    # a window spanning midnight, as configured for another region
    late = MaintenanceWindow.parse("23:00", "01:00")
    assert late.is_open(dt.datetime(2026, 12, 1, 0, 30, tzinfo=dt.UTC)) and not late.is_open(AFTER_WINDOW)
    with pytest.raises(PgOpsError, match="window_start = '25:00' is not a time of day"):
        MaintenanceWindow.parse("25:00", "04:00")


def test_a_value_out_of_range_is_refused_before_any_process_starts(live: Live) -> None:
    before_text = live.pooler.ini.read_text()
    with pytest.raises(PgOpsError, match="default_pool_size = 5000 is out of range"):
        live.maintain(settings=replace(live.run.settings, default_pool_size=5000))
    assert live.pooler.ini.read_text() == before_text and serves_the_app(live)


def test_a_candidate_that_cannot_start_leaves_the_live_pooler_untouched(live: Live) -> None:
    before_text = live.pooler.ini.read_text()
    with pytest.raises(PgOpsError, match="the candidate PgBouncer did not start: .*(tls|TLS|key|cert)") as refused:
        live.maintain(settings=replace(live.run.settings, client_tls_cert_file="/etc/hostname",
                                       client_tls_key_file="/etc/hostname"))
    assert "\n" not in str(refused.value)
    assert live.pooler.ini.read_text() == before_text and live.shown()["pool_mode"] == "session"
    assert serves_the_app(live)


def test_a_setting_that_needs_a_restart_is_refused_unless_allowed_then_restarts_in_the_window(live: Live) -> None:
    new_port = free_port()
    moved = replace(live.run.settings, listen_port=new_port)
    before_text = live.pooler.ini.read_text()
    with pytest.raises(PgOpsError, match=rf"listen_port {live.info.port} -> {new_port} takes effect only when "
                                         "PgBouncer restarts, and allow_restart is off"):
        live.maintain(settings=moved)
    assert live.pooler.ini.read_text() == before_text and serves_the_app(live)
    done = live.maintain(settings=moved, policy=Policy(allow_restart=True))
    assert done.restarted and done.after["listen_port"] == str(new_port)
    moved_pooler = replace(live.pooler, port=new_port)
    with deploy.open_console(moved_pooler) as conn:
        assert candidate.running_config(conn)[0]["listen_port"] == str(new_port)
    assert live.history()[-1]["restarted"] is True


def test_a_live_pooler_that_is_down_or_refuses_the_admin_login_is_one_line_and_nothing_changes(live: Live) -> None:
    before_text = live.pooler.ini.read_text()
    wrong_password = replace(live.run, live=replace(live.pooler, admin_password="not-the-password"))
    proven = maintenance.prove_candidate(live.target, live.run)
    with pytest.raises(PgOpsError, match=rf"the live PgBouncer at 127.0.0.1:{live.info.port} refused the admin login "
                                         "of pgbouncer_admin: .*check PGBOUNCER_ADMIN_PASSWORD") as refused:
        maintenance.deploy_live(live.target, wrong_password, proven, clock=lambda: IN_WINDOW)
    assert "not-the-password" not in str(refused.value)
    nowhere = replace(live.run, live=replace(live.pooler, port=free_port()))
    with pytest.raises(PgOpsError, match="does not answer its admin console: .*start it, or point PGBOUNCER_HOST"):
        maintenance.deploy_live(live.target, nowhere, proven, clock=lambda: IN_WINDOW)
    assert live.pooler.ini.read_text() == before_text and serves_the_app(live)
    assert live.history()[-1]["outcome"] == "refused"  # the refused login is on record


def test_failing_smoke_queries_roll_back_to_the_previous_show_config_without_failing_clients(live: Live) -> None:
    """Statement pooling cannot carry the app's transactions: the smoke fails on the live pooler, the previous
    file comes back, SHOW CONFIG is what it was. (Called below the candidate, which would catch it first.)"""
    before = live.shown()
    before_text = live.pooler.ini.read_text()
    settings = replace(live.run.settings, pool_mode="statement", listen_port=live.info.port).sized(
        config.pool_sizes(100, 3))
    rendered = config.render(settings, live.run.place(live.pooler.ini.parent, "127.0.0.1"), live.info.admin_password)
    with Clients(live) as clients, pytest.raises(DeployFailed, match=r"deploy rolled back in \d+\.\d s: smoke queries "
                                                 r"through .* failed: .*statement pooling.*previous configuration "
                                                 "again") as failed:
        deploy.deploy(live.pooler, rendered, Policy(), live.run.login, clock=lambda: IN_WINDOW)
    assert "\n" not in str(failed.value) and failed.value.deployment.outcome == "rolled_back"
    assert clients.queries > 0 and clients.failures == []
    assert live.shown() == before and live.pooler.ini.read_text() == before_text
    assert serves_the_app(live)


def test_a_file_changed_by_hand_is_refused_with_its_diff_unless_forced(live: Live) -> None:
    live.maintain()  # pg_ops's file runs, and is recorded
    text = live.pooler.ini.read_text()
    live.pooler.ini.write_text(text.replace("max_client_conn = 1000", "max_client_conn = 1500"))
    with pytest.raises(PgOpsError, match=r"was changed by hand since pg_ops wrote it \(-max_client_conn = 1000, "
                                         r"\+max_client_conn = 1500, against what pg_ops last deployed\)"):
        live.maintain(settings=replace(live.run.settings, min_pool_size=2))
    assert "max_client_conn = 1500" in live.pooler.ini.read_text()
    done = live.maintain(settings=replace(live.run.settings, min_pool_size=2), policy=Policy(force=True))
    assert done.outcome == "deployed" and live.shown()["min_pool_size"] == "2"
    assert not config.edited_by_hand(live.pooler.ini.read_text())
    # a file pg_ops never wrote (as Debian's own, taken over on a first deploy): its difference shown, force needed
    live.pooler.ini.write_text(live.pooler.ini.read_text().split("\n", 1)[1].replace("min_pool_size = 2",
                                                                                     "min_pool_size = 4"))
    with pytest.raises(PgOpsError, match=r"was not written by pg_ops \(-min_pool_size = 3, \+min_pool_size = 4, "
                                         r"against the new rendering\); review the difference, then deploy with force"):
        live.maintain(settings=replace(live.run.settings, min_pool_size=3))


def test_the_pooler_figures_and_the_deploy_outcome_reach_the_pushgateway(live: Live) -> None:
    done = live.maintain()
    reading = metrics.read(live.pooler)
    assert reading.up and any(p["database"] == live.run.database for p in reading.pools)
    with servers.pushgateway() as gateway:
        metrics.push_reading(gateway, reading)
        metrics.push_deployment(gateway, done)
        down = metrics.read(replace(live.pooler, port=free_port()))
        assert not down.up and "does not answer" in down.error
        import urllib.request
        with urllib.request.urlopen(f"{gateway}/metrics", timeout=10) as response:
            text = response.read().decode()
    assert f'pg_ops_pgbouncer_up{{instance="",job="pg_ops_pgbouncer",pooler="{live.pooler.label}"}} 1' in text
    assert f'pg_ops_pgbouncer_deploy_success{{instance="",job="pg_ops_pgbouncer_deploy",pooler="' \
           f'{live.pooler.label}"}} 1' in text
    assert f'pg_ops_pgbouncer_pool_size{{database="{live.run.database}"' in text


def test_history_keeps_only_files_that_ran_as_the_base_for_a_hand_edit_diff(live: Live) -> None:
    with pytest.raises(PgOpsError):
        live.maintain(clock=AFTER_WINDOW)
    with connection(live.target) as conn:
        assert history.last_deployed(conn, live.pooler.label, str(live.pooler.ini)) is None
    live.maintain()
    with connection(live.target) as conn:
        assert history.last_deployed(conn, live.pooler.label, str(live.pooler.ini)) == live.pooler.ini.read_text()


def _job_resources(live: Live) -> dict[str, object]:
    import dagster as dg

    from pg_ops.defs.pgbouncer import IN_MEMORY, PgBouncerTarget
    from pg_ops.defs.resources import PostgresTarget, PushgatewayTarget

    return {"target": PostgresTarget(dsn=live.target.dsn), "pushgateway": PushgatewayTarget(),
            "pgbouncer": PgBouncerTarget(ini=str(live.pooler.ini), port=live.info.port,
                                         admin_password=live.info.admin_password,
                                         app_password=live.info.app_password),
            IN_MEMORY: dg.InMemoryIOManager()}


def test_the_dagster_job_refuses_outside_the_window_then_deploys_by_override_with_its_evidence(live: Live) -> None:
    import dagster as dg

    from pg_ops.defs.pgbouncer import pgbouncer_maintenance

    now = dt.datetime.now(dt.UTC)  # the job reads the real clock: a window two hours ahead is shut now
    shut = {"window_start": f"{(now.hour + 2) % 24:02d}:00", "window_end": f"{(now.hour + 3) % 24:02d}:00"}
    refused = pgbouncer_maintenance.execute_in_process(
        run_config={"ops": {"pgbouncer_candidate": {"config": {}},
                            "pgbouncer_deploy": {"config": shut}}},
        resources=_job_resources(live), raise_on_error=False)
    assert not refused.success
    failure = next(e for e in refused.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert failure.step_key == "pgbouncer_deploy"
    assert "is closed" in failure.step_failure_data.error.message and live.shown()["pool_mode"] == "session"  # type: ignore[union-attr]
    done = pgbouncer_maintenance.execute_in_process(
        run_config={"ops": {"pgbouncer_candidate": {"config": {}},
                            "pgbouncer_deploy": {"config": {**shut, "override_window": "test: sandbox"}}}},
        resources=_job_resources(live))
    assert done.success and live.shown()["pool_mode"] == "transaction"
    output = next(e for e in done.events_for_node("pgbouncer_deploy")
                  if e.event_type == dg.DagsterEventType.STEP_OUTPUT)
    metadata = output.step_output_data.metadata  # type: ignore[union-attr]
    assert metadata["outcome"].value == "deployed" and "by override: test: sandbox" in str(metadata["window"].value)
    diff = {row.data["key"]: row.data["after"] for row in metadata["settings_diff"].value.records}  # type: ignore[attr-defined]
    assert diff["pool_mode"] == "transaction" and "RLS held" in str(metadata["smoke"].value)
    candidate_out = done.output_for_node("pgbouncer_candidate")
    assert candidate_out.live.values["pool_mode"] == "transaction"


def test_the_job_settings_are_the_engine_settings_and_the_schedule_is_off_until_a_pooler_is_configured() -> None:
    import dagster as dg

    from pg_ops.defs.pgbouncer import PgBouncerSettings, pgbouncer_maintenance_schedule

    assert set(PgBouncerSettings.model_fields) == set(config.setting_names())
    assert PgBouncerSettings().settings() == config.PoolerSettings()
    assert pgbouncer_maintenance_schedule.cron_schedule == "0 2 * * *"
    assert pgbouncer_maintenance_schedule.default_status == dg.DefaultScheduleStatus.STOPPED


def _env(live: Live) -> dict[str, str]:
    return {"PG_OPS_DSN": live.target.dsn, "PGBOUNCER_INI": str(live.pooler.ini), "PGBOUNCER_PORT": str(live.info.port),
            "PGBOUNCER_ADMIN_PASSWORD": live.info.admin_password, "PGBOUNCER_APP_PASSWORD": live.info.app_password}


@pytest.mark.parametrize(("argv", "env_change", "expected"), [
    (("--set", "pool_mod=transaction"), {}, "--set 'pool_mod=transaction': give key=value with a key among"),
    (("--set", "default_pool_size=many"), {}, "--set default_pool_size='many': default_pool_size takes a whole number"),
    (("--set", "pool_mode=transactions"), {}, "pool_mode = 'transactions' is not one of"),
    (("--window", "2-4"), {}, "window_start = '2' is not a time of day"),
    ((), {"PGBOUNCER_INI": ""}, "PGBOUNCER_INI is not set"),
    ((), {"PGBOUNCER_PORT": "64 32"}, "PGBOUNCER_PORT = '64 32' is not a port"),
    ((), {"PGBOUNCER_APP_PASSWORD": ""}, "PGBOUNCER_APP_PASSWORD is not set"),
    ((), {"PGBOUNCER_ADMIN_PASSWORD": "wrong-admin-pw"}, "refused the admin login of pgbouncer_admin"),
    ((), {}, "the maintenance window 02:00–04:00 UTC is closed"),
])
def test_the_command_line_refuses_bad_input_in_one_line_and_the_pooler_keeps_serving(
        live: Live, argv: tuple[str, ...], env_change: dict[str, str], expected: str) -> None:
    from tests.cli import one_line_error, pg_ops

    now = dt.datetime.now(dt.UTC)
    shut = f"{(now.hour + 2) % 24:02d}:00-{(now.hour + 3) % 24:02d}:00"
    window = () if "--window" in argv else ("--window", shut)
    expected = expected.replace("02:00–04:00", shut.replace("-", "–"))
    before = live.pooler.ini.read_text()
    line = one_line_error(pg_ops("pooler", "deploy", *window, *argv, env={**_env(live), **env_change}))
    assert expected in line, line
    assert live.info.admin_password not in line and "wrong-admin-pw" not in line
    assert live.pooler.ini.read_text() == before and serves_the_app(live)


def test_the_command_line_deploys_by_override_and_sends_the_app_queries_through(live: Live) -> None:
    from tests.cli import pg_ops

    deployed = pg_ops("pooler", "deploy", "--override-window", "test: the sandbox", "--set", "max_client_conn=500",
                      env=_env(live))
    assert deployed.returncode == 0, deployed.stderr
    assert "by override: test: the sandbox" in deployed.stdout and "max_client_conn: 1000 -> 500" in deployed.stdout
    assert live.shown()["max_client_conn"] == "500"
    from pg_ops.engine.migrations import migrate

    migrate.apply(live.target, migrate.Settings.platform())  # the app's queries call the rollout's functions
    traffic = pg_ops("pooler", "traffic", env=_env(live))
    assert traffic.returncode == 0 and " 0 failed" in traffic.stdout, traffic.stdout + traffic.stderr
    status = pg_ops("pooler", "status", env=_env(live))
    assert status.returncode == 0 and "pool(s)" in status.stdout


def test_the_bench_measures_direct_and_pooled_side_by_side_and_times_the_maintenance_run(
        pg: SandboxInfo, demo_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The `make bench` figures on a small scale: two seconds per run instead of thirty, five clients."""
    from pg_ops.engine.migrations import migrate
    from pg_ops.local import bench, bench_pooler

    migrate.apply(demo_db, migrate.Settings.platform())
    monkeypatch.setattr(bench_pooler, "SECONDS", 2)
    monkeypatch.setattr(bench_pooler, "CLIENTS", 5)
    figures = bench_pooler.run(pg, demo_db)
    for kind in ("kept_connections", "connection_per_transaction"):
        for route in ("direct", "pgbouncer"):
            run = figures["load"][kind][route]
            assert run["errors"] == 0 and run["transactions"] > 0 and run["tps"], (kind, route, run)
    assert figures["pool_mode"] == "transaction" and figures["maintenance_outcome"] == "deployed"
    assert figures["rollback_outcome"] == "rolled_back" and "SASL authentication failed" in figures["forced_failure"]
    assert figures["failed_queries_during_maintenance"] == 0 and figures["failed_queries_during_rollback"] == 0
    assert figures["queries_during_maintenance"] > 0 and figures["queries_during_rollback"] > 0
    rows = bench.pooler_rows(figures)
    assert len(rows) == 7 and all(row.startswith("| ") and row.endswith(" |") for row in rows)


def test_a_deploy_killed_after_replacing_the_file_keeps_the_rollback_target_when_run_again(live: Live) -> None:
    """Killed between the file's replacement and its RELOAD, a run leaves a new file that does not run and the
    old one as .previous. The next run must roll back to that one, not to the file that never ran."""
    before, original = live.shown(), live.pooler.ini.read_text()
    settings = replace(live.run.settings, pool_mode="statement", listen_port=live.info.port).sized(
        config.pool_sizes(100, 3))
    rendered = config.render(settings, live.run.place(live.pooler.ini.parent, "127.0.0.1"), live.info.admin_password)
    Path(f"{live.pooler.ini}.previous").write_text(original)  # what the killed run did before it died
    live.pooler.ini.write_text(rendered.ini)
    with pytest.raises(DeployFailed, match="deploy rolled back in .* statement pooling"):
        deploy.deploy(live.pooler, rendered, Policy(), live.run.login, clock=lambda: IN_WINDOW)
    assert live.shown() == before and live.pooler.ini.read_text() == original
    assert serves_the_app(live)
