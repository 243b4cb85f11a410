"""PgBouncer's settings as a typed configuration, checked and rendered into pgbouncer.ini and its auth file.

Rendering refuses a value out of range in one line, before any process starts: PgBouncer 1.18 answers a
RELOAD of a file with a bad line with success and applies it partly (pgbouncer#1482), so a bad value must
never reach a file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from psycopg import sql

from pg_ops.engine import sqlfiles
from pg_ops.engine.db import Connection
from pg_ops.engine.errors import PgOpsError

POOL_MODES = ("session", "transaction", "statement")
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
SCRAM_ITERATIONS = 4096  # PostgreSQL's default for its own verifiers


@dataclass(frozen=True)
class PoolSizes:
    """Server connections PgBouncer may open, from what the server allows (the reasoning is in the README)."""

    max_db_connections: int
    default_pool_size: int
    reserve_pool_size: int


def pool_sizes(max_connections: int, superuser_reserved: int, kept_free: int | None = None) -> PoolSizes:
    """Leave the server's reserved slots and room for everything that does not go through the pooler
    (migrations, monitoring, the exporter, a DBA's psql: 10 %, at least 5), give the pool three quarters
    of the rest and keep a quarter in reserve for bursts."""
    free = max(5, max_connections // 10) if kept_free is None else kept_free
    usable = max_connections - superuser_reserved - free
    if usable < 4:
        raise PgOpsError(f"the server allows {max_connections} connections ({superuser_reserved} reserved for "
                         f"superusers, {free} kept free for migrations and monitoring): too few for a pool; "
                         "raise max_connections")
    reserve = max(1, usable // 4)
    return PoolSizes(max_db_connections=usable, default_pool_size=usable - reserve, reserve_pool_size=reserve)


@dataclass(frozen=True)
class PoolerSettings:
    """What a DBA sets. Sizes left at 0 are computed from the server by `pool_sizes`; listen_port 0 keeps the
    live pooler's port (changing it needs a restart)."""

    listen_port: int = 0
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

    def sized(self, sizes: PoolSizes) -> PoolerSettings:
        """These settings with every size left at 0 taken from `sizes`."""
        return PoolerSettings(**{**asdict(self),
                                 "default_pool_size": self.default_pool_size or sizes.default_pool_size,
                                 "reserve_pool_size": self.reserve_pool_size or sizes.reserve_pool_size,
                                 "max_db_connections": self.max_db_connections or sizes.max_db_connections})


def _between(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise PgOpsError(f"pgbouncer setting {name} = {value} is out of range: it must be between {low} and {high}")


def validate(settings: PoolerSettings, server_max_connections: int | None = None) -> None:
    """One line naming the first wrong value and its allowed range; nothing is written before this passes."""
    if settings.pool_mode not in POOL_MODES:
        raise PgOpsError(f"pgbouncer setting pool_mode = {settings.pool_mode!r} is not one of "
                         f"{', '.join(POOL_MODES)}")
    if settings.server_tls_sslmode not in SSL_MODES:
        raise PgOpsError(f"pgbouncer setting server_tls_sslmode = {settings.server_tls_sslmode!r} is not one of "
                         f"{', '.join(SSL_MODES)}")
    _between("listen_port", settings.listen_port, 1, 65535)
    _between("max_client_conn", settings.max_client_conn, 1, 100_000)
    ceiling = server_max_connections or 100_000
    _between("max_db_connections", settings.max_db_connections, 1, ceiling)
    _between("default_pool_size", settings.default_pool_size, 1, settings.max_db_connections)
    _between("reserve_pool_size", settings.reserve_pool_size, 0,
             settings.max_db_connections - settings.default_pool_size)
    _between("min_pool_size", settings.min_pool_size, 0, settings.default_pool_size)
    for name in ("reserve_pool_timeout_s", "query_wait_timeout_s", "server_idle_timeout_s",
                 "client_idle_timeout_s", "idle_transaction_timeout_s"):
        _between(name, getattr(settings, name), 0, 86_400)
    if bool(settings.client_tls_cert_file) != bool(settings.client_tls_key_file):
        raise PgOpsError("pgbouncer settings client_tls_cert_file and client_tls_key_file go together: set both "
                         "or neither")
    for name in ("client_tls_cert_file", "client_tls_key_file"):
        path = getattr(settings, name)
        if path and not Path(path).is_file():
            raise PgOpsError(f"pgbouncer setting {name} = {path}: no such file")
    for name in ("auth_user", "admin_user"):
        value = getattr(settings, name)
        if not value or not value.replace("_", "").isalnum() or not value[0].isalpha():
            raise PgOpsError(f"pgbouncer setting {name} = {value!r} must be a role name (letters, digits, _)")


def scram_verifier(password: str, salt: bytes | None = None) -> str:
    """A SCRAM-SHA-256 verifier as PostgreSQL stores it (RFC 5802/7677): the auth file holds this, never
    the password."""
    salt = salt or os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = base64.b64encode
    return (f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt).decode()}"
            f"${b64(stored_key).decode()}:{b64(server_key).decode()}")


@dataclass(frozen=True)
class Rendered:
    ini: str
    auth_file: str
    values: dict[str, str]  # each [pgbouncer] key as SHOW CONFIG must then report it


@dataclass(frozen=True)
class Place:
    """Where one PgBouncer lives on this machine, and the database it fronts."""

    directory: Path
    listen_addr: str
    server_host: str
    server_port: int
    database: str
    os_user: str | None = None  # PgBouncer refuses to run as root: the user it switches to


def render(settings: PoolerSettings, place: Place, admin_password: str) -> Rendered:
    validate(settings)
    values = {
        "listen_addr": place.listen_addr, "listen_port": str(settings.listen_port),
        "unix_socket_dir": str(place.directory), "pidfile": str(place.directory / "pgbouncer.pid"),
        "logfile": str(place.directory / "pgbouncer.log"),
        "auth_type": "scram-sha-256", "auth_file": str(place.directory / "userlist.txt"),
        "auth_user": settings.auth_user,
        "auth_query": "SELECT usename, passwd FROM pgbouncer.user_lookup($1)",
        "admin_users": settings.admin_user, "stats_users": settings.admin_user,
        "pool_mode": settings.pool_mode, "max_client_conn": str(settings.max_client_conn),
        "default_pool_size": str(settings.default_pool_size), "min_pool_size": str(settings.min_pool_size),
        "reserve_pool_size": str(settings.reserve_pool_size),
        "reserve_pool_timeout": str(settings.reserve_pool_timeout_s),
        "max_db_connections": str(settings.max_db_connections),
        "query_wait_timeout": str(settings.query_wait_timeout_s),
        "server_idle_timeout": str(settings.server_idle_timeout_s),
        "client_idle_timeout": str(settings.client_idle_timeout_s),
        "idle_transaction_timeout": str(settings.idle_transaction_timeout_s),
        "server_tls_sslmode": settings.server_tls_sslmode,
        "ignore_startup_parameters": "extra_float_digits,options",
    }
    if settings.client_tls_cert_file:
        values.update(client_tls_sslmode="allow", client_tls_cert_file=settings.client_tls_cert_file,
                      client_tls_key_file=settings.client_tls_key_file)
    if place.os_user:
        values["user"] = place.os_user
    database = (f"{place.database} = host={place.server_host} port={place.server_port} "
                f"dbname={place.database}")
    body = "\n".join(["[databases]", database, "", "[pgbouncer]", *(f"{k} = {v}" for k, v in values.items()), ""])
    ini = f"{HEADER} {body_checksum(body)}: edit the settings, not this file\n{body}"
    auth = f'"{settings.admin_user}" "{scram_verifier(admin_password)}"\n'
    return Rendered(ini=ini, auth_file=auth, values=values)


HEADER = "; rendered by pg_ops, sha256"


def file_values(ini: str) -> dict[str, str]:
    """The `key = value` lines of a file's [pgbouncer] section."""
    values: dict[str, str] = {}
    section = ""
    for line in ini.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip().lower()
        elif section == "pgbouncer" and "=" in line and not line.startswith((";", "#")):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def body_checksum(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def edited_by_hand(ini: str) -> bool:
    """True unless the file is exactly what pg_ops rendered: its first line carries the checksum of the rest."""
    first, _, body = ini.partition("\n")
    if not first.startswith(HEADER + " "):
        return True
    return first.removeprefix(HEADER + " ").split(":", 1)[0] != body_checksum(body)


def setting_names() -> list[str]:
    return [f.name for f in fields(PoolerSettings)]


def install_auth_lookup(conn: Connection, auth_user: str) -> None:
    """The role auth_query runs as (LOGIN, nothing else) and the lookup function it may call."""
    exists = conn.execute("select 1 from pg_roles where rolname = %s", (auth_user,)).fetchone()
    if exists is None:
        conn.execute(sql.SQL("create role {} login").format(sql.Identifier(auth_user)))
    conn.execute(sqlfiles.read("pooler/auth_lookup.sql").format(auth_user=sql.Identifier(auth_user)))


def server_limits(conn: Connection) -> tuple[PoolSizes, int]:
    """`pool_sizes` from what this server allows, and its max_connections."""
    row = conn.execute("select current_setting('max_connections')::int as max_connections, "
                       "current_setting('superuser_reserved_connections')::int as reserved").fetchone()
    assert row is not None
    return pool_sizes(int(row["max_connections"]), int(row["reserved"])), int(row["max_connections"])


def server_pool_sizes(conn: Connection) -> PoolSizes:
    """`pool_sizes` from what this server allows."""
    return server_limits(conn)[0]


def settings_from_pairs(pairs: list[str], base: PoolerSettings | None = None) -> PoolerSettings:
    """`key=value` strings (the command line's --set) over `base`, each converted to its field's type."""
    known = {f.name: f for f in fields(PoolerSettings)}
    changes: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in known:
            raise PgOpsError(f"--set {pair!r}: give key=value with a key among {', '.join(known)}")
        if known[key].type in (int, "int"):
            try:
                changes[key] = int(value)
            except ValueError:
                raise PgOpsError(f"--set {key}={value!r}: {key} takes a whole number") from None
        else:
            changes[key] = value
    return PoolerSettings(**{**asdict(base or PoolerSettings()), **changes})
