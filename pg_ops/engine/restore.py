"""Restoring a pg_ops backup: the archive checked first, restored with parallel jobs, then proven.

`restore_into` is the real restore (a new database on the target's server); `rehearse` is the drill: the
newest backup of the target restored into a scratch database, proven the same way, timed, and dropped.
The proof: every table's row count equals the one taken in the dump's own snapshot (the sidecar
`<dump>.json`), the allow/deny matrix recorded before the RLS rewrite holds in the copy, and every
index the restored ledger says was built exists and is valid.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg import conninfo, sql

from pg_ops.engine import backup, sqlfiles
from pg_ops.engine.db import Target, as_target, connect, describe, redact
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.migrations import index_lifecycle, ledger, migrate
from pg_ops.engine.paths import state_dir
from pg_ops.engine.proof import rls_matrix

Log = Callable[[str], None]
_HEADER = re.compile(r"^;\s+(dbname|Dumped from database version|Dumped by pg_dump version|Format):\s*(.*)$")


@dataclass(frozen=True)
class Archive:
    path: Path
    database: str
    server_major: int  # of the server it was dumped from
    pg_dump_major: int
    toc_entries: int
    tables: int  # TABLE DATA entries
    facts: dict[str, Any] | None  # the sidecar pg_ops wrote beside it, if any


def _major(text: str) -> int:
    match = re.match(r"(\d+)", text)
    return int(match.group(1)) if match else 0


def read_archive(path: Path) -> Archive:
    """The archive's table of contents and versions, and proof that the file is whole; one line if not."""
    if not path.is_file():
        raise PgOpsError(f"backup file {path} does not exist; give the path of a *.dump the backup asset wrote "
                         f"(by default in {state_dir() / 'backups'})")
    restore = backup.tool("pg_restore")
    listed = subprocess.run([str(restore), "--list", str(path)], capture_output=True, text=True, check=False)
    if listed.returncode != 0:
        reason = (listed.stderr.strip().splitlines() or ["no reason given"])[-1].removeprefix("pg_restore: error: ")
        raise PgOpsError(f"{path.name} is not a pg_dump archive pg_restore can read ({reason}); give a *.dump the "
                         "backup asset wrote")
    header = {m.group(1): m.group(2).strip() for line in listed.stdout.splitlines() if (m := _HEADER.match(line))}
    entries = [line for line in listed.stdout.splitlines() if line and not line.startswith(";")]
    if header.get("Format") != "CUSTOM":
        raise PgOpsError(f"{path.name} is a {header.get('Format', 'unknown')}-format archive; pg_ops restores the "
                         "custom format its backups write (pg_dump -Fc)")
    tables = sum(1 for line in entries if " TABLE DATA " in line)
    if not tables:
        raise PgOpsError(f"{path.name} holds no table data ({len(entries)} entries); it is not a backup of a database "
                         "with data (pg_dump --schema-only?)")
    sidecar = backup.sidecar_of(path)
    facts = json.loads(sidecar.read_text()) if sidecar.is_file() else None
    archive = Archive(path=path, database=header.get("dbname", "?"),
                      server_major=_major(header.get("Dumped from database version", "")),
                      pg_dump_major=_major(header.get("Dumped by pg_dump version", "")), toc_entries=len(entries),
                      tables=tables, facts=facts)
    _whole(archive, restore)
    return archive


def _whole(archive: Archive, restore: Path) -> None:
    """A truncated or altered file is refused before anything is restored: against the size and sha256 pg_ops
    recorded, or, for an archive without its sidecar, by reading every block of it."""
    path = archive.path
    if archive.facts is not None:
        size = path.stat().st_size
        if size != archive.facts.get("size_bytes"):
            raise PgOpsError(f"{path.name} is {size:,} bytes but was {archive.facts.get('size_bytes'):,} when pg_ops "
                             "wrote it: truncated or altered; restore from an intact copy")
        if backup.file_sha256(path) != archive.facts.get("sha256"):
            raise PgOpsError(f"{path.name} does not have the sha256 pg_ops recorded when it wrote it: altered or "
                             "damaged; restore from an intact copy")
        return
    read = subprocess.run([str(restore), "-f", os.devnull, str(path)], capture_output=True, text=True, check=False)
    if read.returncode != 0:
        reason = (read.stderr.strip().splitlines() or ["no reason given"])[-1].removeprefix("pg_restore: error: ")
        raise PgOpsError(f"{path.name} is damaged: pg_restore cannot read all of it ({reason}); restore from an "
                         "intact copy")


def check_versions(archive: Archive, server_major: int) -> None:
    restore_major = backup.tool_major(backup.tool("pg_restore"))
    if archive.pg_dump_major > restore_major:
        raise PgOpsError(f"{archive.path.name} was written by pg_dump {archive.pg_dump_major}, newer than pg_restore "
                         f"{restore_major}: install postgresql-client-{archive.pg_dump_major} or set PG_OPS_PG_BIN")
    if archive.server_major > server_major:
        raise PgOpsError(f"{archive.path.name} comes from a PostgreSQL {archive.server_major} server; this server is "
                         f"{server_major}: restore it into a server of version {archive.server_major} or newer")


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


@dataclass
class Restored:
    database: str
    seconds: float  # pg_restore alone: the recovery time a DBA quotes
    checks: list[Check] = field(default_factory=list)
    row_counts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def failures(self) -> str:
        return "; ".join(f"{c.name}: {c.detail}" for c in self.checks if not c.passed)


def _server_major(dsn: Target | str) -> int:
    with connect(dsn, purpose="restore") as conn:
        row = conn.execute("select current_setting('server_version_num')::int / 10000 as m").fetchone()
    return int(row["m"]) if row else 0


def _refuse_existing(dsn: Target | str, database: str) -> bool:
    """True when `database` exists and is empty (it is used); refuses one that holds anything."""
    with connect(dsn, purpose="restore") as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (database,)).fetchone()
        can = conn.execute("select rolcreatedb or rolsuper as ok from pg_roles where rolname = current_user").fetchone()
    if not exists:
        if not (can and can["ok"]):
            raise PgOpsError(f"the role of {describe(dsn)} may not create databases (CREATEDB); restore as a role that "
                             "may, or create the database empty first")
        return False
    with connect(as_target(dsn).with_conninfo(dbname=database), purpose="restore") as conn:
        row = conn.execute(sqlfiles.read("pgops/user_relations.sql")).fetchone()
    if row and row["n"]:
        raise PgOpsError(f"database {database} exists and is not empty ({row['n']} relations); restore into a new "
                         "name, or drop it yourself first; nothing was changed")
    return True


def restore_into(dsn: Target | str, archive: Archive, database: str, jobs: int = 2,
                 log: Log = lambda _: None) -> Restored:
    """Restore `archive` into `database` (new, or existing and empty) on the server of `dsn`, then prove it."""
    if not database.strip():
        raise PgOpsError("--into needs the name of a new database to restore into")
    if jobs < 1:
        raise PgOpsError(f"jobs must be at least 1, got {jobs}")
    check_versions(archive, _server_major(dsn))
    existed = _refuse_existing(dsn, database)
    if not existed:
        with connect(dsn, purpose="restore") as conn:
            conn.execute(sql.SQL("create database {} template template0").format(sql.Identifier(database)))
    log(f"restore: {archive.path.name} into {database} with {jobs} parallel jobs")
    started = time.perf_counter()
    result = subprocess.run([str(backup.tool("pg_restore")), "--exit-on-error", f"--jobs={jobs}", "--no-password",
                             "-d", database, str(archive.path)], env=backup.libpq_env(dsn, database),
                            capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        reason = redact(result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "no reason given", dsn)
        if not existed:
            drop(dsn, database)
        raise PgOpsError(f"pg_restore of {archive.path.name} into {database} failed: {reason}"
                         + ("; the new database was dropped" if not existed else
                            f"; {database} was empty and now holds what was restored before the failure: drop it "
                            "or restore into a new name"))
    log(f"restore: done in {seconds:.1f} s; checking the copy")
    restored = Restored(database=database, seconds=seconds)
    prove(as_target(dsn).with_conninfo(dbname=database), archive, restored)
    return restored


def drop(dsn: Target | str, database: str) -> None:
    with connect(dsn, purpose="restore") as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database)))


def prove(copy: Target, archive: Archive, restored: Restored) -> None:
    with connect(copy, purpose="restore check", statement_timeout_ms=0) as conn:
        counts = backup.count_rows(conn)
        rows = ledger.read(conn)
    expected: dict[str, int] | None = archive.facts.get("row_counts") if archive.facts else None
    if expected is None:
        restored.checks.append(Check("row_counts", True, f"not compared: {archive.path.name} has no sidecar with "
                                                         f"the dump's counts ({len(counts)} tables restored)"))
    else:
        restored.row_counts = [{"table": t, "in_backup": n, "restored": counts.get(t)} for t, n in expected.items()]
        off = [f"{t}: {n} in the backup, {counts.get(t)} restored" for t, n in expected.items() if counts.get(t) != n]
        restored.checks.append(Check("row_counts", not off, "; ".join(off[:3]) or f"all {len(expected)} tables equal"))
    before = archive.facts.get("rls_reads") if archive.facts else None
    if before is None:
        why = (archive.facts or {}).get("rls_reads_note") or "the backup has no sidecar with them"
        restored.checks.append(Check("rls_matrix", True, f"not compared: the matrix's reads at the dump, {why}"))
    else:
        found = rls_matrix.differences(before, rls_matrix.take(copy, reads_only=True))
        restored.checks.append(Check("rls_matrix", not found, "; ".join(found[:3]) or
                                     f"every user reads what they read at the dump's snapshot ({len(before)} users)"))
    built = [b for f in migrate.all_files(migrate.Settings.platform()) if rows.get(f.version)
             and rows[f.version].outcome == "success" for b in f.index_builds]
    with connect(copy, purpose="restore check") as conn:
        invalid = conn.execute(sqlfiles.read("pgops/invalid_indexes.sql")).fetchall()
        verdicts = index_lifecycle.verdicts(conn, built)
    bad = [f"{r['schema']}.{r['index']} invalid" for r in invalid] + [f"{n} {v}" for n, v in verdicts if v != "ok"]
    restored.checks.append(Check("indexes", not bad, "; ".join(bad[:3]) or
                                 f"no invalid index; the {len(built)} the ledger says were built are all valid"))


@dataclass
class Drill:
    backup: Path
    taken_at: str
    dump_seconds: float  # pg_dump alone
    backup_seconds: float  # the whole backup: counts, pg_dump, the matrix's reads beside it
    restored: Restored

    @property
    def ratio(self) -> float:
        """pg_restore's time over pg_dump's: what restoring costs against what dumping did."""
        return self.restored.seconds / self.dump_seconds if self.dump_seconds else float("nan")


def newest_backup(folder: Path, database: str) -> Path:
    """The newest backup of `database` in `folder` that pg_ops wrote (it has its sidecar)."""
    pattern = re.compile(rf"^{re.escape(re.sub(r'[^A-Za-z0-9_-]', '_', database))}_\d{{8}}T\d{{6}}\.\d{{6}}Z\.dump$")
    found = sorted(p for p in folder.glob("*.dump") if pattern.match(p.name) and backup.sidecar_of(p).is_file()) \
        if folder.is_dir() else []
    if not found:
        raise PgOpsError(f"no backup of {database} in {folder}; materialize the backup asset (config always: true) "
                         "or set the drill's folder to where the backups are")
    return found[-1]


_SCRATCH = "pgops_drill_"
_DAY_S = 86_400


def _drop_leftovers(dsn: Target | str, database: str, log: Log) -> None:
    """Scratch databases of drills that were killed before their cleanup (a whole copy each, on the target's
    disk). Only those a day old: a drill running now is never touched."""
    pattern = re.compile(rf"^{_SCRATCH}{re.escape(database[:30])}_(\d+)_\d+$")
    with connect(dsn, purpose="restore") as conn:
        names = [r["datname"] for r in conn.execute("select datname from pg_database where datname like %s",
                                                    (_SCRATCH + "%",))]
    for name in names:
        match = pattern.match(name)
        if match and time.time() - int(match.group(1)) > _DAY_S:
            log(f"drill: dropping {name}, left by a drill that did not finish")
            drop(dsn, name)


def rehearse(dsn: Target | str, folder: Path, jobs: int = 2, log: Log = lambda _: None) -> Drill:
    """The newest backup restored into a scratch database, proven, timed and dropped."""
    database = str(conninfo.conninfo_to_dict(as_target(dsn).dsn).get("dbname") or "postgres")
    archive = read_archive(newest_backup(folder, database))
    assert archive.facts is not None  # newest_backup only picks dumps with their sidecar
    _drop_leftovers(dsn, database, log)
    scratch = f"{_SCRATCH}{database[:30]}_{int(time.time())}_{os.getpid()}"
    try:
        restored = restore_into(dsn, archive, scratch, jobs=jobs, log=log)
    finally:
        drop(dsn, scratch)
    return Drill(backup=archive.path, taken_at=str(archive.facts.get("taken_at")),
                 dump_seconds=float(archive.facts.get("dump_seconds") or 0.0),
                 backup_seconds=float(archive.facts.get("backup_seconds") or archive.facts.get("dump_seconds") or 0.0),
                 restored=restored)

