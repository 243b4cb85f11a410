"""A verified backup before any change: pg_dump -Fc, read back, restored into a scratch database.

pg_dump runs at a snapshot exported from a REPEATABLE READ transaction that pg_ops holds open, and the
row counts of every table are taken in that same transaction: the restored copy must match them exactly,
even while the application keeps writing. The transaction ends with the dump, so it never stalls the
CREATE INDEX CONCURRENTLY builds that follow.

Beside each dump, `<name>.dump.json` keeps what a later restore checks against: the row counts, the
file's size and sha256 (a truncated or altered file is told apart before anything is restored), the
versions, how long the dump took, and who could read what (the reads of the RLS allow/deny matrix, taken
at the dump's snapshot while pg_dump runs, so a restored copy must give exactly the same answers).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import conninfo, sql

from pg_ops.engine import binaries
from pg_ops.engine.db import Connection, Target, as_target, connect, describe, redact
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.proof import rls_matrix

Log = Callable[[str], None]
_LIBPQ_ENV = {"host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "user": "PGUSER",
              "password": "PGPASSWORD", "dbname": "PGDATABASE", "sslmode": "PGSSLMODE",
              "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY",
              "connect_timeout": "PGCONNECT_TIMEOUT", "passfile": "PGPASSFILE"}
_TABLES = """select n.nspname as schema, c.relname as name
             from pg_class c join pg_namespace n on n.oid = c.relnamespace
             where c.relkind in ('r', 'p') and not c.relispartition
               and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
             order by 1, 2"""


SIDECAR_SUFFIX = ".json"


def sidecar_of(dump: Path) -> Path:
    return dump.with_name(dump.name + SIDECAR_SUFFIX)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_sidecar(dump: Path, database: str, seconds: float, dump_seconds: float, pg_dump_major: int,
                   server_version: str, row_counts: dict[str, int], rls_reads: dict[str, Any]) -> None:
    facts = {"database": database, "taken_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
             "backup_seconds": round(seconds, 3), "dump_seconds": round(dump_seconds, 3),
             "size_bytes": dump.stat().st_size, "sha256": file_sha256(dump), "pg_dump_major": pg_dump_major,
             "server_version": server_version, "row_counts": row_counts, **rls_reads}
    partial = sidecar_of(dump).with_suffix(".partial")
    partial.write_text(json.dumps(facts, indent=1, sort_keys=True))
    partial.rename(sidecar_of(dump))


@dataclass
class BackupReport:
    path: Path
    size_bytes: int
    seconds: float
    pg_dump_version: str
    toc_entries: int
    tables: int
    restore: str  # "verified", "skipped: <why>", never a silent pass
    restore_seconds: float | None
    row_counts: dict[str, int] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)


def tool(name: str) -> Path:
    """pg_dump / pg_restore: PG_OPS_PG_BIN, else the newest /usr/lib/postgresql/*/bin, else PATH."""
    configured = os.environ.get("PG_OPS_PG_BIN")
    candidates = [Path(configured) / name] if configured else []
    if not configured:
        candidates += sorted(binaries.SEARCH_ROOT.glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3])
                             if p.parts[-3].isdigit() else 0, reverse=True)
        found = shutil.which(name)
        if found:
            candidates.append(Path(found))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise PgOpsError(f"{name} not found{' in PG_OPS_PG_BIN=' + configured if configured else ''}; install the "
                     "client matching your server: apt-get install postgresql-client-15")


def tool_major(path: Path) -> int:
    out = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=False)
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", out.stdout)
    if out.returncode != 0 or not match:
        raise PgOpsError(f"cannot read the version of {path} ({(out.stderr or out.stdout).strip()[:100]})")
    return int(match.group(1))


def check_versions(dump_major: int, server_major: int, dump_path: Path) -> None:
    if dump_major < server_major:
        raise PgOpsError(f"{dump_path} is version {dump_major}, older than the server ({server_major}); a dump "
                         f"needs pg_dump {server_major} or newer: apt-get install postgresql-client-{server_major} "
                         "or set PG_OPS_PG_BIN")


def libpq_env(dsn: Target | str, dbname: str | None = None) -> dict[str, str]:
    """The connection as PG* variables: the password never reaches a command line (ps would show it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for key, value in conninfo.conninfo_to_dict(as_target(dsn).dsn).items():
        if key in _LIBPQ_ENV and value is not None:
            env[_LIBPQ_ENV[key]] = str(value)
    if dbname:
        env["PGDATABASE"] = dbname
    return env


def _writable_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".pg_ops-probe-"):
            pass
    except OSError as exc:
        raise PgOpsError(f"backup folder {folder} is not writable ({exc.strerror or exc}); choose another folder "
                         "(backup config: folder) or fix its permissions") from None


def count_rows(conn: Connection) -> dict[str, int]:
    counts = {}
    for row in conn.execute(_TABLES).fetchall():
        counted = conn.execute(sql.SQL("select count(*) as n from {}.{}").format(
            sql.Identifier(row["schema"]), sql.Identifier(row["name"]))).fetchone()
        counts[f"{row['schema']}.{row['name']}"] = int(counted["n"]) if counted else 0
    return counts


def _rls_reads_at(dsn: Target | str, snapshot: str, into: dict[str, Any]) -> None:
    """The matrix's reads at the dump's snapshot; a database without the platform's users says why not."""
    try:
        into["rls_reads"] = rls_matrix.take(dsn, snapshot=snapshot, reads_only=True)
    except (PgOpsError, psycopg.Error) as exc:
        into["rls_reads"] = None
        into["rls_reads_note"] = f"not taken: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}"


def _dump(dsn: Target | str, dump: Path, target: Path, snapshot: str, log: Log) -> float:
    """pg_dump into `target`; how long it took."""
    started = time.perf_counter()
    partial = target.with_suffix(".partial")
    argv = [str(dump), "--format=custom", f"--snapshot={snapshot}", "--no-password", "-f", str(partial)]
    process = subprocess.Popen(argv, env=libpq_env(dsn), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    stderr_lines: list[str] = []
    reader = threading.Thread(target=lambda: stderr_lines.extend(process.stderr or []), daemon=True)
    reader.start()
    last_report = time.monotonic()
    while process.poll() is None:
        time.sleep(0.2)
        if time.monotonic() - last_report >= 2 and partial.exists():
            log(f"backup: {partial.stat().st_size / 2**20:,.1f} MiB written")
            last_report = time.monotonic()
    reader.join(timeout=5)
    if process.returncode != 0:
        partial.unlink(missing_ok=True)
        detail = redact(stderr_lines[-1].strip() if stderr_lines else f"exit {process.returncode}", dsn)
        raise PgOpsError(f"pg_dump failed: {detail}")
    partial.rename(target)
    return time.perf_counter() - started


def _toc(restore: Path, target: Path) -> tuple[int, int]:
    listed = subprocess.run([str(restore), "--list", str(target)], capture_output=True, text=True, check=False)
    if listed.returncode != 0:
        raise PgOpsError(f"pg_restore cannot read the backup {target}: {listed.stderr.strip()[:200]}")
    entries = [line for line in listed.stdout.splitlines() if line and not line.startswith(";")]
    return len(entries), sum(1 for line in entries if " TABLE DATA " in line)


def _verify_by_restore(dsn: Target | str, restore: Path, target: Path, expected: dict[str, int],
                       log: Log) -> tuple[str, float]:
    started = time.perf_counter()
    source_db = conninfo.conninfo_to_dict(as_target(dsn).dsn).get("dbname") or "db"
    scratch = f"pgops_verify_{str(source_db)[:30]}_{int(time.time())}"
    with connect(dsn, purpose="backup verify") as conn:
        can = conn.execute("select rolcreatedb or rolsuper as ok from pg_roles where rolname = current_user").fetchone()
        if not (can and can["ok"]):
            return "skipped: the connecting role may not create the scratch database (CREATEDB)", 0.0
        conn.execute(sql.SQL("create database {} template template0").format(sql.Identifier(scratch)))
    try:
        log(f"backup: restoring into scratch database {scratch} to verify it")
        result = subprocess.run([str(restore), "--no-owner", "--exit-on-error", "--jobs=2", "--no-password",
                                 "-d", scratch, str(target)], env=libpq_env(dsn, scratch),
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise PgOpsError(f"backup {target.name} does not restore: {redact(result.stderr.strip()[-300:], dsn)}")
        scratch_dsn = as_target(dsn).with_conninfo(dbname=scratch)
        with connect(scratch_dsn, purpose="backup verify", statement_timeout_ms=0) as conn:
            restored = count_rows(conn)
        mismatched = [f"{t}: {n} in the dump's snapshot, {restored.get(t)} restored" for t, n in expected.items()
                      if restored.get(t) != n]
        if mismatched:
            raise PgOpsError(f"backup {target.name} restored with different row counts: {'; '.join(mismatched[:3])}")
    finally:
        with connect(dsn, purpose="backup verify") as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(scratch)))
    return "verified", time.perf_counter() - started


def _retain(folder: Path, dbname: str, keep_last: int) -> list[str]:
    """Delete this database's older backups; never another database's, never a file we did not name."""
    pattern = re.compile(rf"^{re.escape(dbname)}_\d{{8}}T\d{{6}}\.\d{{6}}Z\.dump$")
    ours = sorted(p for p in folder.iterdir() if pattern.match(p.name))
    removed = []
    for old in ours[:-keep_last] if keep_last > 0 else []:
        old.unlink()
        sidecar_of(old).unlink(missing_ok=True)
        removed.append(old.name)
    return removed


def take(dsn: Target | str, folder: Path, verify_restore: bool = True, keep_last: int = 5,
        log: Log = lambda _: None) -> BackupReport:
    if keep_last < 1:
        raise PgOpsError(f"keep_last must be at least 1 (the backup just taken), got {keep_last}")
    dump, restore = tool("pg_dump"), tool("pg_restore")
    _writable_folder(folder)
    dbname = str(conninfo.conninfo_to_dict(as_target(dsn).dsn).get("dbname") or "postgres")
    # Microseconds keep names unique and in time order, which retention relies on.
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    target = folder / f"{re.sub(r'[^A-Za-z0-9_-]', '_', dbname)}_{stamp}.dump"
    started = time.perf_counter()
    # Counting every table of a large database and holding the snapshot while pg_dump runs take as long as
    # they take: the target's statement_timeout is lifted for the backup's own sessions.
    with connect(dsn, purpose="backup", autocommit=False, statement_timeout_ms=0) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        server = conn.execute("select current_setting('server_version_num')::int / 10000 as m, "
                              "current_setting('server_version') as v").fetchone()
        assert server is not None
        server_major, server_version = int(server["m"]), str(server["v"]).split()[0]
        dump_major = tool_major(dump)
        check_versions(dump_major, server_major, dump)
        snapshot = conn.execute("select pg_export_snapshot() as s").fetchone()["s"]  # type: ignore[index]
        log(f"backup: pg_dump {dump_major} of {describe(dsn)} at snapshot {snapshot} into {target}")
        expected = count_rows(conn)
        rls_reads: dict[str, Any] = {}
        reader = threading.Thread(target=_rls_reads_at, args=(dsn, snapshot, rls_reads), daemon=True)
        reader.start()
        try:
            dump_seconds = _dump(dsn, dump, target, snapshot, log)
        finally:
            reader.join()  # every matrix session has imported the snapshot: the exporting transaction may end
            conn.rollback()  # ends the snapshot: index builds must not wait for it
    seconds = time.perf_counter() - started
    _write_sidecar(target, dbname, seconds, dump_seconds, dump_major, server_version, expected, rls_reads)
    size = target.stat().st_size
    log(f"backup: {size / 2**20:,.1f} MiB in {seconds:.1f} s")
    entries, tables = _toc(restore, target)
    if verify_restore:
        try:
            outcome, restore_seconds = _verify_by_restore(dsn, restore, target, expected, log)
        except (PgOpsError, psycopg.Error):
            target.rename(target.with_suffix(".unverified"))
            sidecar_of(target).rename(sidecar_of(target.with_suffix(".unverified")))
            raise
    else:
        outcome, restore_seconds = "skipped: verify_restore is off (the table of contents was read)", 0.0
    removed = _retain(folder, target.name.rsplit("_", 1)[0], keep_last)  # <db>_<stamp>.dump
    return BackupReport(path=target, size_bytes=size, seconds=seconds, pg_dump_version=str(dump_major),
                        toc_entries=entries, tables=tables, restore=outcome,
                        restore_seconds=restore_seconds if verify_restore else None, row_counts=expected,
                        removed=removed)
