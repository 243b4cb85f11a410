"""Deploying a proven PgBouncer configuration to the live pooler: replace the file atomically (the previous one
kept), RELOAD, compare SHOW CONFIG with what was rendered, restart only when a changed key needs it and that
is allowed, read SHOW POOLS/STATS, run smoke queries through the pooler. Any failure after the file changed
puts the previous file back, reloads, checks SHOW CONFIG is what it was, and fails naming what went wrong.

Everything that can be refused is refused before the file is touched: the live pooler unreachable or
refusing the admin login, a file changed by hand since pg_ops wrote it, a restart needed but not allowed,
the window closed.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import pwd
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pglast
import psycopg
from psycopg import sql

from pg_ops.engine import sqlfiles
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.pooler import candidate
from pg_ops.engine.pooler.config import HEADER, Rendered, edited_by_hand, file_values
from pg_ops.engine.pooler.window import Clock, MaintenanceWindow, require_open, utc_now
from pg_ops.engine.processes import process_alive

Log = Callable[[str], None]
PREVIOUS_SUFFIX = ".previous"


@dataclass(frozen=True)
class LivePooler:
    """The PgBouncer applications use: the file it was started with and its admin console."""

    ini: Path
    host: str
    port: int
    admin_user: str
    admin_password: str = field(repr=False)
    # Empty: pg_ops restarts it itself (SIGINT to the PID in its pidfile, then `pgbouncer -d` on the file);
    # else a command such as `systemctl restart pgbouncer`.
    restart_command: str = ""
    listen_addr: str = ""  # what its file says to listen on (e.g. *), when not the host reached above

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Policy:
    window: MaintenanceWindow = MaintenanceWindow()
    override_window: str = ""  # a reason: deploy outside the window, logged and kept in the history
    allow_restart: bool = False
    force: bool = False  # replace a file edited by hand since pg_ops wrote it


@dataclass(frozen=True)
class SmokeLogin:
    """Who the smoke queries log in as through the pooler: the application's login role."""

    database: str
    user: str
    password: str = field(repr=False)


@dataclass
class Deployment:
    pooler: str
    ini_path: str
    started: float
    outcome: str = "refused"  # deployed | unchanged | rolled_back | rollback_failed | refused
    detail: str = ""
    window_note: str = ""
    changes: list[dict[str, str]] = field(default_factory=list)
    before: dict[str, str] = field(default_factory=dict)
    after: dict[str, str] = field(default_factory=dict)
    pools: list[dict[str, str]] = field(default_factory=list)
    stats: list[dict[str, str]] = field(default_factory=list)
    smoke: str = ""
    restarted: bool = False
    seconds: float = 0.0
    rollback_seconds: float | None = None
    ini: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome in ("deployed", "unchanged")


class DeployFailed(PgOpsError):
    """A deploy that ended without the new configuration running; `deployment` says how far it got."""

    def __init__(self, message: str, deployment: Deployment) -> None:
        super().__init__(message)
        deployment.detail = str(self)
        deployment.seconds = time.monotonic() - deployment.started
        self.deployment = deployment


Console = psycopg.Connection[tuple[object, ...]]


def open_console(pooler: LivePooler, host: str | None = None, port: int | None = None) -> Console:
    """The live pooler's admin console, or one line saying why not (down, or the login refused)."""
    where = f"{host or pooler.host}:{port or pooler.port}"
    try:
        return candidate.console(host or pooler.host, port or pooler.port, pooler.admin_user, pooler.admin_password)
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split())
        if "password authentication failed" in reason or "not allowed" in reason or "SASL" in reason \
                or "no such user" in reason:
            raise PgOpsError(f"the live PgBouncer at {where} refused the admin login of {pooler.admin_user}: "
                             f"{_tail(reason)}; check PGBOUNCER_ADMIN_PASSWORD and that admin_users names "
                             f"{pooler.admin_user}") from None
        raise PgOpsError(f"the live PgBouncer at {where} does not answer its admin console: {_tail(reason)}; start "
                         "it, or point PGBOUNCER_HOST/PGBOUNCER_PORT at it") from None


def _tail(reason: str) -> str:
    # libpq: 'connection to server at "127.0.0.1", port 6432 failed: FATAL:  password authentication failed ...'
    return reason.split(" failed: ", 1)[-1].strip()


def hand_edit_diff(live_text: str, base_text: str) -> list[str]:
    """The lines that differ, as `-old` / `+new`, comments and blank lines left out."""
    def lines(text: str) -> list[str]:
        return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith(";")]
    return [line for line in difflib.unified_diff(lines(base_text), lines(live_text), lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def _replace_atomically(path: Path, text: str, owner: str | None, mode: int) -> None:
    """Write beside `path`, then rename over it: a reader sees the old file or the new one, never half."""
    fresh = path.with_name(path.name + ".new")
    with open(fresh, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    fresh.chmod(mode)
    if owner and os.geteuid() == 0:
        entry = pwd.getpwnam(owner)
        os.chown(fresh, entry.pw_uid, entry.pw_gid)
    os.replace(fresh, path)


def _keep_previous(path: Path) -> Path | None:
    if not path.exists():
        return None
    previous = path.with_name(path.name + PREVIOUS_SUFFIX)
    shutil.copy2(path, previous)
    return previous


def _restore(path: Path, previous: Path | None) -> None:
    if previous is None:
        path.unlink(missing_ok=True)
        return
    keep = path.with_name(path.name + ".restore")
    shutil.copy2(previous, keep)
    os.replace(keep, path)


def _wait_for_console(pooler: LivePooler, host: str, port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with open_console(pooler, host, port):
                return
        except PgOpsError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def stop_daemon(pidfile: Path, patience_s: float = 10.0) -> int | None:
    """SIGINT (safe shutdown: pause, let transactions finish, exit) to the PID in `pidfile`; after
    `patience_s` (a session-pooled client that never lets go) SIGTERM, PgBouncer's immediate exit. Its PID, or
    None when nothing ran."""
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if not process_alive(pid):
        return None
    for sig, wait_s in ((signal.SIGINT, patience_s), (signal.SIGTERM, 5.0)):
        os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not process_alive(pid):
            return pid
    raise PgOpsError(f"PgBouncer (pid {pid}) did not stop on SIGINT nor SIGTERM; stop it by hand")


def start_daemon(ini: Path, timeout_s: float = 20.0) -> None:
    """`pgbouncer -d ini`: it forks into the background and writes the pidfile the file names."""
    started = subprocess.run([str(candidate.PGBOUNCER), "-d", str(ini)], capture_output=True, text=True, check=False,
                             timeout=timeout_s)
    if started.returncode != 0:
        said = (started.stderr or started.stdout).strip().splitlines()
        raise PgOpsError(f"PgBouncer did not start on {ini}: "
                         f"{candidate.reason(said) if said else 'exit ' + str(started.returncode)}")


def restart(pooler: LivePooler, running: dict[str, str], ini: Path, host: str, port: int,
            timeout_s: float = 20.0) -> None:
    """Stop the running PgBouncer and start it on `ini`; back when its admin console answers again."""
    if pooler.restart_command:
        try:
            done = subprocess.run(shlex.split(pooler.restart_command), capture_output=True, text=True,
                                  timeout=timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PgOpsError(f"the restart command {pooler.restart_command!r} did not run: {exc}") from None
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()
            raise PgOpsError(f"the restart command {pooler.restart_command!r} failed: "
                             f"{said[-1] if said else 'exit ' + str(done.returncode)}")
    else:
        pidfile = Path(running.get("pidfile", ""))
        if stop_daemon(pidfile) is None:
            raise PgOpsError(f"cannot restart the live PgBouncer: no running PID in its pidfile {pidfile}; set "
                             "PGBOUNCER_RESTART_COMMAND (e.g. systemctl restart pgbouncer)")
        start_daemon(ini, timeout_s)
    _wait_for_console(pooler, host, port, timeout_s)


def smoke(host: str, port: int, login: SmokeLogin) -> str:
    """sql/pooler/smoke.sql through the pooler, in one transaction, without prepared statements (PgBouncer
    1.18 in transaction pooling cannot carry them)."""
    statements = pglast.split(sqlfiles.text("pooler/smoke.sql"))
    try:
        with psycopg.connect(host=host, port=port, dbname=login.database, user=login.user, password=login.password,
                             prepare_threshold=None, connect_timeout=5, application_name="pg_ops pooler smoke") as conn:
            with conn.transaction():
                for statement in statements:
                    cursor = conn.execute(sql.SQL(statement))  # our own file
                    last = cursor.fetchone() if cursor.description else None
    except psycopg.Error as exc:
        raise PgOpsError(f"smoke queries through {host}:{port} as {login.user} failed: "
                         f"{_tail(' '.join(str(exc).split()))}") from None
    if not last or last[0] is not True:
        raise PgOpsError(f"smoke queries through {host}:{port}: a user who owns no order saw orders; row-level "
                         "security does not hold through the pooler")
    return f"{len(statements)} statements in one transaction as {login.user} through {host}:{port}, RLS held"


def _changes(before: dict[str, str], rendered: Rendered) -> list[dict[str, str]]:
    return [{"key": key, "before": before.get(key, ""), "after": want} for key, want in rendered.values.items()
            if not candidate.same_value(before.get(key, ""), want)]


def deploy(pooler: LivePooler, rendered: Rendered, policy: Policy, login: SmokeLogin,
           last_deployed_ini: str | None = None, clock: Clock = utc_now, log: Log = lambda _: None) -> Deployment:
    """Put `rendered` (already proven on a candidate) into the live pooler, or leave it as it was."""
    done = Deployment(pooler=pooler.label, ini_path=str(pooler.ini), started=time.monotonic(), ini=rendered.ini)
    try:
        with open_console(pooler) as conn:
            done.before, fixed = candidate.running_config(conn)
    except PgOpsError as unreachable:
        raise DeployFailed(f"{unreachable}; nothing was changed", done) from None
    conffile = done.before.get("conffile", "")
    if conffile and Path(conffile).resolve() != pooler.ini.resolve():
        raise DeployFailed(f"the live PgBouncer at {pooler.label} runs {conffile}, not {pooler.ini}; point "
                           "PGBOUNCER_INI at the file it was started with; nothing was changed", done)
    try:
        live_text = pooler.ini.read_text()
    except OSError as exc:
        raise DeployFailed(f"cannot read the live file {pooler.ini}: {exc.strerror}; nothing was changed", done) \
            from None
    if edited_by_hand(live_text):
        ours = live_text.startswith(HEADER)
        # A file pg_ops wrote is shown against what it wrote; any other against what force would put there.
        base = last_deployed_ini if ours and last_deployed_ini else rendered.ini
        against = "what pg_ops last deployed" if base is last_deployed_ini else "the new rendering"
        diff = hand_edit_diff(live_text, base)
        diff_line = ", ".join(diff[:8]) + (f" and {len(diff) - 8} more" if len(diff) > 8 else "")
        if not policy.force and not ours:
            raise DeployFailed(f"{pooler.ini} was not written by pg_ops ({diff_line or 'comments only'}, against "
                               f"{against}); review the difference, then deploy with force to replace it; nothing "
                               "was changed", done)
        if not policy.force:
            raise DeployFailed(f"{pooler.ini} was changed by hand since pg_ops wrote it "
                               f"({diff_line or 'comments only'}, against {against}); carry the change into the "
                               "settings, or deploy with force to replace it; nothing was changed", done)
        log(f"replacing a file changed by hand, by force: {diff_line}")
    done.changes = _changes(done.before, rendered)
    needs_restart = [c["key"] for c in done.changes if c["key"] in fixed]
    if needs_restart and not policy.allow_restart:
        named = ", ".join(f"{c['key']} {c['before']} -> {c['after']}" for c in done.changes if c["key"] in fixed)
        raise DeployFailed(f"{named} takes effect only when PgBouncer restarts, and allow_restart is off; allow the "
                           "restart (it happens inside the window) or keep the running value; nothing was changed",
                           done)
    try:
        done.window_note = require_open(policy.window, clock(), policy.override_window,
                                        "deploy to the live PgBouncer")
    except PgOpsError as closed:
        raise DeployFailed(str(closed), done) from None
    log(done.window_note)
    if not done.changes and live_text == rendered.ini:
        done.outcome, done.detail = "unchanged", "the live PgBouncer already runs these settings"
        _observe(pooler, done, pooler.host, pooler.port, login)
        done.seconds = time.monotonic() - done.started
        return done

    auth = Path(rendered.values["auth_file"])
    previous = (pooler.ini.with_name(pooler.ini.name + PREVIOUS_SUFFIX), auth.with_name(auth.name + PREVIOUS_SUFFIX))
    running_file = all(candidate.same_value(done.before.get(k, ""), v) for k, v in file_values(live_text).items())
    if not running_file and previous[0].exists():
        # An earlier deploy replaced the file and stopped before its RELOAD (killed): what runs is still the
        # file it kept, so that one stays the rollback target.
        log(f"{pooler.ini} is not what PgBouncer runs (an earlier deploy stopped before its reload): the rollback "
            f"target stays {previous[0].name}")
        kept: tuple[Path | None, Path | None] = (previous[0], previous[1] if previous[1].exists() else None)
    else:
        kept = (_keep_previous(pooler.ini), _keep_previous(auth))
    owner = rendered.values.get("user")
    try:
        _replace_atomically(auth, rendered.auth_file, owner, 0o600)
        _replace_atomically(pooler.ini, rendered.ini, owner, 0o644)
        log(f"replaced {pooler.ini} (previous kept as {pooler.ini.name}{PREVIOUS_SUFFIX}); {len(done.changes)} "
            "setting(s) change")
        host, port = pooler.host, pooler.port
        with open_console(pooler) as conn:
            conn.execute("RELOAD")
            shown, _ = candidate.running_config(conn)
        if needs_restart:
            log(require_open(policy.window, clock(), policy.override_window, f"restart for {', '.join(needs_restart)}"))
            host, port = pooler.host, int(rendered.values["listen_port"])
            restart(pooler, done.before, pooler.ini, host, port)
            done.restarted = True
            with open_console(pooler, host, port) as conn:
                shown, _ = candidate.running_config(conn)
        wrong = candidate.config_differences(rendered, shown)
        if wrong:
            raise PgOpsError(f"after the reload the live PgBouncer runs other values than rendered: "
                             f"{'; '.join(wrong[:3])}")
        done.after = shown
        _observe(pooler, done, host, port, login)
    except PgOpsError as failure:
        try:
            _roll_back(pooler, done, kept, auth, log)
        except PgOpsError as stuck:
            done.outcome = "rollback_failed"
            raise DeployFailed(f"deploy failed ({failure}) and so did its rollback: {stuck}", done) from None
        raise DeployFailed(f"deploy rolled back in {done.rollback_seconds:.1f} s: {failure}; the live PgBouncer runs "
                           "its previous configuration again", done) from None
    done.outcome = "deployed"
    done.detail = f"{len(done.changes)} setting(s) changed" + (", restarted" if done.restarted else ", reloaded")
    done.seconds = time.monotonic() - done.started
    return done


def _observe(pooler: LivePooler, done: Deployment, host: str, port: int, login: SmokeLogin) -> None:
    with open_console(pooler, host, port) as conn:
        done.pools = candidate.show(conn, "POOLS")
        done.stats = candidate.show(conn, "STATS")
    done.smoke = smoke(host, port, login)


def _roll_back(pooler: LivePooler, done: Deployment, kept: tuple[Path | None, Path | None], auth: Path,
               log: Log) -> None:
    """The previous files back, RELOAD (or restart, if the failed deploy restarted), and SHOW CONFIG as it was."""
    started = time.monotonic()
    _restore(pooler.ini, kept[0])
    _restore(auth, kept[1])
    if done.restarted:
        restart(pooler, done.before, pooler.ini, pooler.host, pooler.port)
    else:
        with open_console(pooler) as conn:
            conn.execute("RELOAD")
    with open_console(pooler) as conn:
        shown, _ = candidate.running_config(conn)
    differ = [f"{key} = {shown.get(key)!r}, was {value!r}" for key, value in done.before.items()
              if not candidate.same_value(shown.get(key, ""), value)]
    done.outcome = "rolled_back"
    done.after = shown
    done.rollback_seconds = time.monotonic() - started
    if differ:
        raise PgOpsError(f"ROLLBACK INCOMPLETE on {pooler.label}: after restoring the previous file it runs "
                         f"{'; '.join(differ[:3])}; restart PgBouncer by hand on {pooler.ini}")
    log(f"rolled back in {done.rollback_seconds:.1f} s: the previous file runs again, SHOW CONFIG as before")


def ini_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
