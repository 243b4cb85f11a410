"""One maintenance run: settings sized from the server, rendered, proven on a candidate, deployed to the live
pooler in the window, recorded in pgops.pooler_deployments and pushed to the Pushgateway. The command line
and the Dagster job both run these steps; the job shows them as two ops."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from psycopg import conninfo

from pg_ops.engine.db import Target, connection
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.pooler import candidate, config, history, metrics
from pg_ops.engine.pooler.deploy import DeployFailed, Deployment, LivePooler, Log, Policy, SmokeLogin, deploy, smoke
from pg_ops.engine.pooler.window import Clock, utc_now
from pg_ops.engine.processes import free_port


@dataclass(frozen=True)
class Maintenance:
    """Everything one run needs; passwords are never in a repr."""

    settings: config.PoolerSettings
    live: LivePooler
    server_host: str
    server_port: int
    database: str
    login: SmokeLogin
    policy: Policy = Policy()
    pushgateway_url: str = field(default="", repr=False)

    @property
    def os_user(self) -> str | None:
        return "postgres" if os.geteuid() == 0 else None  # PgBouncer refuses root

    def place(self, directory: Path, listen_addr: str) -> config.Place:
        return config.Place(directory=directory, listen_addr=listen_addr, server_host=self.server_host,
                            server_port=self.server_port, database=self.database, os_user=self.os_user)


@dataclass(frozen=True)
class CandidateResult:
    live: config.Rendered
    proof: candidate.Proof
    smoke: str
    sizes: config.PoolSizes
    settings: config.PoolerSettings


def sized_settings(target: Target, settings: config.PoolerSettings,
                   live_port: int) -> tuple[config.PoolerSettings, config.PoolSizes]:
    """Sizes left at 0 computed from the server, the port left at 0 the live pooler's; then validated."""
    settings = replace(settings, listen_port=settings.listen_port or live_port)
    with connection(target, purpose="pooler sizes") as conn:
        sizes, server_max = config.server_limits(conn)
    sized = settings.sized(sizes)
    config.validate(sized, server_max)
    return sized, sizes


@contextmanager
def _candidate_folder() -> Iterator[Path]:
    # In /tmp and traversable: as root the candidate runs as postgres.
    folder = Path(tempfile.mkdtemp(prefix="pg_ops_candidate_", dir="/tmp"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def prove_candidate(target: Target, run: Maintenance, log: Log = lambda _: None) -> CandidateResult:
    """Render for the live pooler, and prove the same settings on a throwaway candidate: SHOW CONFIG equals the
    rendering, and the application logs in through it and runs its smoke queries under RLS."""
    settings, sizes = sized_settings(target, run.settings, run.live.port)
    live = config.render(settings, run.place(run.live.ini.parent, run.live.listen_addr or run.live.host),
                         run.live.admin_password)
    with _candidate_folder() as folder:
        trial = config.render(replace(settings, listen_port=free_port()), run.place(folder, "127.0.0.1"),
                              run.live.admin_password)
        def smoke_on_candidate(process: candidate.Running) -> str:
            try:
                return smoke("127.0.0.1", process.port, run.login)
            except PgOpsError as exc:
                raise PgOpsError(f"the candidate PgBouncer: {exc}") from None

        try:
            proof = candidate.prove(trial, run.live.admin_password, also=smoke_on_candidate)
        except PgOpsError as exc:
            raise PgOpsError(f"{exc}; the live pooler was not touched") from None
    log(f"candidate PgBouncer (pid {proof.pid}, port {proof.port}) ran the rendered settings; {proof.said}")
    return CandidateResult(live=live, proof=proof, smoke=proof.said, sizes=sizes, settings=settings)


def deploy_live(target: Target, run: Maintenance, proven: CandidateResult, clock: Clock = utc_now,
                log: Log = lambda _: None) -> Deployment:
    """Deploy what the candidate proved; the outcome goes to the history table and the Pushgateway whether it
    succeeded or not."""
    started_at = dt.datetime.now(dt.UTC)
    with connection(target, purpose="pooler history") as conn:
        history.ensure(conn)
        last = history.last_deployed(conn, run.live.label, str(run.live.ini))
    try:
        done = deploy(run.live, proven.live, run.policy, run.login, last_deployed_ini=last, clock=clock, log=log)
    except DeployFailed as failed:
        _keep(target, run, failed.deployment, started_at, log)
        raise
    _keep(target, run, done, started_at, log)
    return done


def _keep(target: Target, run: Maintenance, done: Deployment, started_at: dt.datetime, log: Log) -> None:
    with connection(target, purpose="pooler history") as conn:
        row = history.record(conn, done, started_at)
    log(f"recorded as pgops.pooler_deployments id {row}: {done.outcome}")
    if run.pushgateway_url:
        try:
            metrics.push_deployment(run.pushgateway_url, done)
        except PgOpsError as exc:  # the deploy's outcome stands; a missing push is said, not fatal
            log(f"warning: {exc}")


def _env_port(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip() or str(default)
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise PgOpsError(f"{name} = {text!r} is not a port; give a number from 1 to 65535")
    return int(text)


def _env_required(name: str, what: str) -> str:
    value = os.environ.get(name, "")
    if not value.strip():
        raise PgOpsError(f"{name} is not set: {what}")
    return value


def live_from_env() -> LivePooler:
    """The live pooler as the environment describes it (PGBOUNCER_*); one line for what is missing."""
    ini = Path(_env_required("PGBOUNCER_INI", "the pgbouncer.ini the live PgBouncer was started with"))
    return LivePooler(ini=ini, host=os.environ.get("PGBOUNCER_HOST", "").strip() or "127.0.0.1",
                      port=_env_port("PGBOUNCER_PORT", 6432),
                      admin_user=os.environ.get("PGBOUNCER_ADMIN_USER", "").strip() or "pgbouncer_admin",
                      admin_password=_env_required("PGBOUNCER_ADMIN_PASSWORD", "the password of the admin console "
                                                   "user (PGBOUNCER_ADMIN_USER, default pgbouncer_admin)"),
                      restart_command=os.environ.get("PGBOUNCER_RESTART_COMMAND", "").strip(),
                      listen_addr=os.environ.get("PGBOUNCER_LISTEN_ADDR", "").strip())


def login_from_env(database: str) -> SmokeLogin:
    return SmokeLogin(database=database, user=os.environ.get("PGBOUNCER_APP_USER", "").strip() or "authenticator",
                      password=_env_required("PGBOUNCER_APP_PASSWORD", "the password the application logs in with "
                                             "through the pooler (PGBOUNCER_APP_USER, default authenticator)"))


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    database: str


def server_of(target: Target) -> Server:
    """The database the pooler fronts: PG_OPS_DSN's, reached at its host and port unless PgBouncer sees the
    server elsewhere (PGBOUNCER_SERVER_HOST / PGBOUNCER_SERVER_PORT, e.g. from inside a container)."""
    parts = conninfo.conninfo_to_dict(target.dsn)
    database = str(parts.get("dbname") or parts.get("user") or "")
    return Server(host=os.environ.get("PGBOUNCER_SERVER_HOST", "").strip() or str(parts.get("host") or "127.0.0.1"),
                  port=_env_port("PGBOUNCER_SERVER_PORT", int(parts.get("port") or 5432)), database=database)
