"""pgbouncer_maintenance: PgBouncer's settings proven on a candidate, then deployed to the live pooler inside the
maintenance window; a schedule at the window's start; a sensor that pushes the pooler's figures.

Ops, not assets: a deploy acts on a running process; there is no data whose freshness or lineage an asset
would describe, and the record of each run is pgops.pooler_deployments. The two ops show the two halves a
DBA reads separately: what was proven on the candidate, and what the live pooler did.
"""

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import dagster as dg

from pg_ops.defs.failures import one_line_failures
from pg_ops.defs.metadata import table
from pg_ops.defs.resources import PostgresTarget, PushgatewayTarget
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.pooler import config, maintenance, metrics
from pg_ops.engine.pooler.deploy import DeployFailed, Deployment, LivePooler, Policy, SmokeLogin
from pg_ops.engine.pooler.window import MaintenanceWindow

WINDOW_START_ENV, WINDOW_END_ENV, SETTINGS_ENV = "PGBOUNCER_WINDOW_START", "PGBOUNCER_WINDOW_END", "PGBOUNCER_SETTINGS"


class PgBouncerTarget(dg.ConfigurableResource):
    """The live PgBouncer: the file it was started with, its admin console, and the app's login through it.
    An empty `ini` means no pooler is configured (the job refuses in one line; the sensor skips)."""

    ini: str = ""
    host: str = "127.0.0.1"
    port: int = 6432
    admin_user: str = "pgbouncer_admin"
    admin_password: str = ""
    app_user: str = "authenticator"
    app_password: str = ""
    restart_command: str = ""
    listen_addr: str = ""  # empty: the host above

    @property
    def configured(self) -> bool:
        return bool(self.ini.strip())

    def live(self) -> LivePooler:
        if not self.configured:
            raise PgOpsError("no PgBouncer configured: set PGBOUNCER_INI (the file the live PgBouncer was started "
                             "with), PGBOUNCER_ADMIN_PASSWORD and PGBOUNCER_APP_PASSWORD, then reload the code "
                             "location")
        return LivePooler(ini=Path(self.ini), host=self.host, port=self.port, admin_user=self.admin_user,
                          admin_password=self.admin_password, restart_command=self.restart_command,
                          listen_addr=self.listen_addr)


_ENV_FIELDS = {"ini": "PGBOUNCER_INI", "host": "PGBOUNCER_HOST", "port": "PGBOUNCER_PORT",
               "admin_user": "PGBOUNCER_ADMIN_USER", "admin_password": "PGBOUNCER_ADMIN_PASSWORD",
               "app_user": "PGBOUNCER_APP_USER", "app_password": "PGBOUNCER_APP_PASSWORD",
               "restart_command": "PGBOUNCER_RESTART_COMMAND", "listen_addr": "PGBOUNCER_LISTEN_ADDR"}


def pgbouncer_from_env() -> PgBouncerTarget:
    """Each field from its environment variable when set (EnvVar: the value is read at run time, never shown)."""
    fields = {name: (dg.EnvVar.int(var) if name == "port" else dg.EnvVar(var))
              for name, var in _ENV_FIELDS.items() if os.environ.get(var)}
    return PgBouncerTarget(**fields)  # type: ignore[arg-type]  # EnvVar stands for the value until run time


class PgBouncerSettings(dg.Config):
    """What the candidate proves and the deploy puts live. Sizes at 0 are computed from the server's
    max_connections (the README explains the split)."""

    listen_port: int = 0  # 0: the live pooler's port
    pool_mode: str = "transaction"
    max_client_conn: int = 1000
    default_pool_size: int = 0
    reserve_pool_size: int = 0
    max_db_connections: int = 0
    min_pool_size: int = 0
    reserve_pool_timeout_s: int = 3
    query_wait_timeout_s: int = 120
    server_idle_timeout_s: int = 600
    client_idle_timeout_s: int = 0
    idle_transaction_timeout_s: int = 0
    server_tls_sslmode: str = "prefer"
    client_tls_cert_file: str = ""
    client_tls_key_file: str = ""
    auth_user: str = "pgbouncer_auth"
    admin_user: str = "pgbouncer_admin"

    def settings(self) -> config.PoolerSettings:
        return config.PoolerSettings(**{name: getattr(self, name) for name in config.setting_names()})


class DeployPolicy(dg.Config):
    window_start: str = "02:00"
    window_end: str = "04:00"
    override_window: str = ""  # a reason: deploy outside the window (logged, kept in the history)
    allow_restart: bool = False
    force: bool = False  # replace a live file changed by hand since pg_ops wrote it

    def policy(self) -> Policy:
        return Policy(window=MaintenanceWindow.parse(self.window_start, self.window_end),
                      override_window=self.override_window, allow_restart=self.allow_restart, force=self.force)


def _run(target: PostgresTarget, pgbouncer: PgBouncerTarget, settings: config.PoolerSettings,
         policy: Policy | None = None, pushgateway_url: str = "") -> maintenance.Maintenance:
    server = maintenance.server_of(target.db)
    if not pgbouncer.app_password:
        raise PgOpsError("PGBOUNCER_APP_PASSWORD is not set: the password the application logs in with through the "
                         f"pooler ({pgbouncer.app_user})")
    return maintenance.Maintenance(settings=settings, live=pgbouncer.live(), server_host=server.host,
                                   server_port=server.port, database=server.database,
                                   login=SmokeLogin(server.database, pgbouncer.app_user, pgbouncer.app_password),
                                   policy=policy or Policy(), pushgateway_url=pushgateway_url)


# The rendering carries the admin verifier: it passes between the two ops in memory, never to disk.
IN_MEMORY = "in_memory_io_manager"


@dg.op(out=dg.Out(io_manager_key=IN_MEMORY))
@one_line_failures
def pgbouncer_candidate(context: dg.OpExecutionContext, target: PostgresTarget, pgbouncer: PgBouncerTarget,
                        config: PgBouncerSettings) -> maintenance.CandidateResult:
    """Render the settings (sizes from the server), boot a throwaway PgBouncer on them, require SHOW CONFIG to
    equal the rendering and the app's smoke queries to pass under RLS; the live pooler is not touched."""
    run = _run(target, pgbouncer, config.settings())
    proven = maintenance.prove_candidate(target.db, run, log=context.log.info)
    context.add_output_metadata({
        "rendered": table([{"key": k, "value": v} for k, v in proven.live.values.items()]),
        "computed_sizes": str(asdict(proven.sizes)),
        "candidate": f"pid {proven.proof.pid} on port {proven.proof.port}, stopped",
        "smoke": proven.smoke,
    })
    return proven


def _metadata(done: Deployment) -> dict[str, Any]:
    keys = sorted({c["key"] for c in done.changes} | {"pool_mode", "default_pool_size", "max_client_conn"})
    return {
        "outcome": done.outcome,
        "detail": done.detail,
        "window": done.window_note or "not reached",
        "settings_diff": table(done.changes) if done.changes else "no setting changes",
        "show_config_before_after": table([{"key": k, "before": done.before.get(k, ""), "after": done.after.get(k, "")}
                                           for k in keys]),
        "pools": table(done.pools) if done.pools else "not read",
        "stats": table(done.stats) if done.stats else "not read",
        "smoke": done.smoke or "not run",
        "restarted": done.restarted,
        "seconds": round(done.seconds, 3),
        "rollback_seconds": round(done.rollback_seconds, 3) if done.rollback_seconds is not None else -1.0,
    }


@dg.op
def pgbouncer_deploy(context: dg.OpExecutionContext, target: PostgresTarget, pgbouncer: PgBouncerTarget,
                     pushgateway: PushgatewayTarget, config: DeployPolicy,
                     proven: maintenance.CandidateResult) -> None:
    """Inside the window (checked now): replace the live file, RELOAD, compare SHOW CONFIG, restart only if
    allowed, read pools, smoke queries through the pooler; any failure rolls back to the previous file."""
    try:
        run = _run(target, pgbouncer, proven.settings, config.policy(), pushgateway.url)
        done = maintenance.deploy_live(target.db, run, proven, log=context.log.info)
    except DeployFailed as failed:
        raise dg.Failure(description=str(failed), metadata=_metadata(failed.deployment), allow_retries=False) from None
    except PgOpsError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    context.add_output_metadata(_metadata(done))


@dg.job(
    name="pgbouncer_maintenance",
    description="Render PgBouncer's settings, prove them on a candidate, deploy to the live pooler inside the "
    "maintenance window (02:00–04:00 UTC by default), verify, roll back on failure.",
    executor_def=dg.in_process_executor,
)
def pgbouncer_maintenance() -> None:
    pgbouncer_deploy(pgbouncer_candidate())


def _window_start_cron() -> str:
    start = os.environ.get(WINDOW_START_ENV, "02:00")
    try:
        window = MaintenanceWindow.parse(start, os.environ.get(WINDOW_END_ENV, "04:00"))
    except PgOpsError:
        return "0 2 * * *"  # the run itself refuses the bad value in one line
    return f"{window.start.minute} {window.start.hour} * * *"


@dg.schedule(
    name="pgbouncer_maintenance_schedule",
    job=pgbouncer_maintenance,
    cron_schedule=_window_start_cron(),
    execution_timezone="UTC",
    # Off until a live pooler is configured: a schedule must never be the first thing to touch one.
    default_status=dg.DefaultScheduleStatus.RUNNING if os.environ.get("PGBOUNCER_INI")
    else dg.DefaultScheduleStatus.STOPPED,
    description="At the window's start (PGBOUNCER_WINDOW_START, default 02:00 UTC), with the settings in "
    "PGBOUNCER_SETTINGS (key=value ..., the command line's --set). Off unless PGBOUNCER_INI is set.",
)
def pgbouncer_maintenance_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    try:
        settings = config.settings_from_pairs(os.environ.get(SETTINGS_ENV, "").split())
    except PgOpsError as exc:
        return dg.SkipReason(f"{SETTINGS_ENV}: {exc}")
    return dg.RunRequest(run_config=dg.RunConfig(ops={
        "pgbouncer_candidate": PgBouncerSettings(**asdict(settings)),
        "pgbouncer_deploy": DeployPolicy(window_start=os.environ.get(WINDOW_START_ENV, "02:00"),
                                         window_end=os.environ.get(WINDOW_END_ENV, "04:00")),
    }))


@dg.sensor(name="pgbouncer_figures", minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Reads the live PgBouncer's SHOW POOLS/DATABASES/STATS and pushes them to PUSHGATEWAY_URL "
           "(job pg_ops_pgbouncer). Launches no runs; skips while no pooler is configured.")
def pgbouncer_figures(pgbouncer: PgBouncerTarget, pushgateway: PushgatewayTarget) -> dg.SkipReason:
    if not pgbouncer.configured:
        return dg.SkipReason("no PgBouncer configured (PGBOUNCER_INI unset)")
    reading = metrics.read(pgbouncer.live())
    line = reading.line()
    if pushgateway.url:
        try:
            metrics.push_reading(pushgateway.url, reading, pushgateway.timeout_s)
        except PgOpsError as exc:
            line += f"; not pushed: {exc}"
    return dg.SkipReason(line)
