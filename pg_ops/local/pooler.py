"""A PgBouncer in front of the sandbox: the live pooler `make demo` deploys to through the window override.

It starts in PgBouncer's own defaults (session pooling, 20 connections per pool), the state a platform has
before the maintenance run; the run then moves it to the rendered settings.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from psycopg import conninfo, sql

from pg_ops.engine.db import Connection, connection
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.pooler import candidate, config, deploy
from pg_ops.engine.processes import free_port
from pg_ops.local import sandbox

DEFAULT_PORT = 6432
APP_USER = "authenticator"  # Supabase's PostgREST login: NOINHERIT, granted anon/authenticated/service_role
BEFORE = config.PoolerSettings(pool_mode="session", default_pool_size=20, reserve_pool_size=1)


@dataclass(frozen=True)
class PoolerInfo:
    port: int
    ini: str
    database: str
    admin_password: str = field(repr=False)
    app_password: str = field(repr=False)

    def environment(self) -> dict[str, str]:
        """What points `pg-ops pooler` and the Dagster job at this pooler."""
        return {"PGBOUNCER_INI": self.ini, "PGBOUNCER_HOST": "127.0.0.1", "PGBOUNCER_PORT": str(self.port),
                "PGBOUNCER_ADMIN_USER": BEFORE.admin_user, "PGBOUNCER_ADMIN_PASSWORD": self.admin_password,
                "PGBOUNCER_APP_USER": APP_USER, "PGBOUNCER_APP_PASSWORD": self.app_password}


def folder(root: Path | None = None) -> Path:
    return (root or sandbox.home()) / "pgbouncer"


def _secret(path: Path) -> str:
    if not path.exists():
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


def prepare_database(conn: Connection, app_password: str, auth_user: str = BEFORE.auth_user) -> list[str]:
    """The auth_query lookup, the app's login password, and pg_hba letting the lookup role in from loopback."""
    notes = []
    config.install_auth_lookup(conn, auth_user)
    if conn.execute("select 1 from pg_roles where rolname = %s", (APP_USER,)).fetchone() is None:
        raise PgOpsError(f"the sandbox database has no {APP_USER} role; load the demo first: pg-ops demo load")
    conn.execute(sql.SQL("alter role {} with login password {}").format(sql.Identifier(APP_USER),
                                                                        sql.Literal(app_password)))
    row = conn.execute("show hba_file").fetchone()
    assert row is not None
    hba = Path(row["hba_file"])
    lines = hba.read_text()
    rule = f"host all {auth_user} 127.0.0.1/32 trust"
    if rule not in lines:  # PgBouncer 1.18 cannot log in with a verifier: the lookup role comes in by address
        hba.write_text(f"{rule}\n{lines}")
        conn.execute("select pg_reload_conf()")
        notes.append(f"pg_hba: {rule}")
    return notes


def _info_file(root: Path | None) -> Path:
    return folder(root) / "pooler.json"


def load(root: Path | None = None) -> PoolerInfo | None:
    try:
        return PoolerInfo(**json.loads(_info_file(root).read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


def _answers(info: PoolerInfo) -> bool:
    try:
        with candidate.console("127.0.0.1", info.port, BEFORE.admin_user, info.admin_password, connect_timeout_s=2):
            return True
    except Exception:  # noqa: BLE001 - any failure means: not answering
        return False


def up(dsn: str, root: Path | None = None, port: int | None = None) -> tuple[PoolerInfo, list[str]]:
    """Start the sandbox's PgBouncer (creating its files the first time) in front of the database of `dsn` (a
    superuser's, on loopback)."""
    server = conninfo.conninfo_to_dict(dsn)
    database, server_port = str(server["dbname"]), int(server.get("port") or 5432)
    existing = load(root)
    if existing and _answers(existing):
        with connection(dsn, purpose="sandbox pooler") as conn:  # a demo reload or another pooler may have reset it
            prepare_database(conn, existing.app_password)
        return existing, [f"PgBouncer already running on 127.0.0.1:{existing.port}"]
    home = folder(root)
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o755)
    admin_password, app_password = _secret(home / "admin_password"), _secret(home / "app_password")
    with connection(dsn, purpose="sandbox pooler") as conn:
        notes = prepare_database(conn, app_password)
        sizes = config.server_pool_sizes(conn)
    wanted = port or (existing.port if existing else DEFAULT_PORT)
    chosen = wanted if sandbox.port_is_free(wanted) else free_port()
    settings = config.PoolerSettings(**{**asdict(BEFORE), "listen_port": chosen}).sized(sizes)
    place = config.Place(directory=home, listen_addr="127.0.0.1", server_host="127.0.0.1", server_port=server_port,
                         database=database, os_user=sandbox.SUPERUSER if os.geteuid() == 0 else None)
    ini = home / "pgbouncer.ini"
    if not ini.exists() or existing is None or existing.port != chosen:
        ini = candidate.write_files(config.render(settings, place, admin_password))
        notes.append(f"wrote {ini} (session pooling, PgBouncer's defaults: the state before a maintenance run)")
    deploy.start_daemon(ini)
    info = PoolerInfo(port=chosen, ini=str(ini), database=database, admin_password=admin_password,
                      app_password=app_password)
    deadline = time.monotonic() + 10
    while not _answers(info):
        if time.monotonic() > deadline:
            raise PgOpsError(f"the sandbox PgBouncer did not answer on 127.0.0.1:{chosen}; see {home}/pgbouncer.log")
        time.sleep(0.1)
    _info_file(root).write_text(json.dumps(asdict(info), indent=2) + "\n")
    _info_file(root).chmod(0o600)
    notes.append(f"PgBouncer running on 127.0.0.1:{chosen} in front of {database} (admin console: "
                 f"{BEFORE.admin_user}, database pgbouncer)")
    return info, notes


def down(root: Path | None = None) -> list[str]:
    info = load(root)
    if info is None:
        return ["no sandbox PgBouncer; nothing to stop"]
    running = deploy.stop_daemon(Path(info.ini).parent / "pgbouncer.pid")
    return [f"stopped PgBouncer (pid {running})" if running else "the sandbox PgBouncer was not running"]


def running_info(root: Path | None = None) -> PoolerInfo:
    info = load(root)
    if info is None or not _answers(info):
        raise PgOpsError("the sandbox PgBouncer is not running; start it with: pg-ops sandbox pooler-up")
    return info
