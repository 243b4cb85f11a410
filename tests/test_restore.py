"""Restoring a pg_ops backup for real, and the monthly drill, on a real server; bad backups are refused first."""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from pg_ops.defs.resources import PostgresTarget, PushgatewayTarget
from pg_ops.defs.restore import RestoreRehearsalConfig, restore_rehearsal
from pg_ops.engine import backup, restore
from pg_ops.engine.db import connection
from pg_ops.engine.errors import PgOpsError
from pg_ops.engine.migrations import migrate
from pg_ops.engine.proof import rls_matrix
from pg_ops.local.sandbox import SandboxInfo
from tests import servers
from tests.cli import one_line_error, pg_ops


@pytest.fixture(scope="module")
def backed_up(pg: SandboxInfo, demo_template: str, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[tuple[str, Path]]:
    """A demo copy with its RLS matrix recorded and the rollout applied, and a verified backup of it."""
    dsn = servers.create_database(pg, "rs_source", template=demo_template)
    rls_matrix.save(dsn, rls_matrix.take(dsn), rls_matrix.BEFORE_REWRITE)
    migrate.apply(dsn, migrate.Settings.platform())
    folder = tmp_path_factory.mktemp("backups")
    taken = backup.take(dsn, folder, verify_restore=False)
    yield dsn, taken.path
    servers.drop_database(pg, "rs_source")


def databases(dsn: str) -> set[str]:
    with connection(dsn) as conn:
        return {r["datname"] for r in conn.execute("select datname from pg_database")}


def test_the_sidecar_holds_what_a_restore_checks_against(backed_up: tuple[str, Path]) -> None:
    dsn, dump = backed_up
    facts = json.loads(backup.sidecar_of(dump).read_text())
    assert facts["database"] == "rs_source" and facts["size_bytes"] == dump.stat().st_size
    assert facts["sha256"] == backup.file_sha256(dump) and facts["pg_dump_major"] == 15
    with connection(dsn) as conn:
        assert facts["row_counts"] == backup.count_rows(conn)  # nobody wrote since
    assert facts["row_counts"]["public.orders"] > 0 and facts["dump_seconds"] > 0
    assert set(facts["rls_reads"]) == {"customer", "customer_2", "driver", "owner", "admin", "anon"}
    assert all(action.startswith("read_") for row in facts["rls_reads"].values() for action in row)


def test_a_backup_taken_while_the_app_writes_describes_one_moment(pg: SandboxInfo, demo_template: str,
                                                                   tmp_path: Path) -> None:
    """Row counts, the dump and the matrix's reads all at the dump's snapshot: the drill of a backup taken
    under writes passes (recorded at another moment, the reads would differ from the copy's)."""
    dsn = servers.create_database(pg, "rs_busy", template=demo_template)
    try:
        with servers.placing_orders(dsn):
            taken = backup.take(dsn, tmp_path, verify_restore=False)
            drill = restore.rehearse(dsn, tmp_path)
    finally:
        servers.drop_database(pg, "rs_busy")
    facts = json.loads(backup.sidecar_of(taken.path).read_text())
    orders = facts["row_counts"]["public.orders"]
    assert facts["rls_reads"]["admin"]["read_orders"].startswith(f"{orders}:")  # the same moment
    assert drill.restored.passed, drill.restored.failures()


def test_a_restore_into_a_new_database_is_proven(pg: SandboxInfo, backed_up: tuple[str, Path]) -> None:
    dsn, dump = backed_up
    try:
        result = pg_ops("restore", "--backup", str(dump), "--into", "rs_copy", env={"PG_OPS_DSN": dsn})
        assert result.returncode == 0, result.stderr
        assert "PASS  row_counts: all " in result.stdout and " tables equal" in result.stdout
        assert "PASS  rls_matrix: every user reads what they read at the dump's snapshot (6 users)" in result.stdout
        assert re.search(r"PASS  indexes: no invalid index; the 1[0-9] the ledger says were built are all valid",
                         result.stdout)
        with connection(pg.dsn("rs_copy")) as conn:  # the restored copy answers as the platform did
            restored = conn.execute("select count(*) as n from public.orders").fetchone()
        with connection(dsn) as conn:
            assert restored == conn.execute("select count(*) as n from public.orders").fetchone()

        again = pg_ops("restore", "--backup", str(dump), "--into", "rs_copy", env={"PG_OPS_DSN": dsn})
        assert "database rs_copy exists and is not empty" in one_line_error(again)
    finally:
        servers.drop_database(pg, "rs_copy")


def test_bad_backups_are_refused_before_anything_is_restored(backed_up: tuple[str, Path], tmp_path: Path) -> None:
    dsn, dump = backed_up
    before = databases(dsn)
    truncated = tmp_path / "truncated.dump"
    truncated.write_bytes(dump.read_bytes()[:-2000])
    shutil.copy(backup.sidecar_of(dump), backup.sidecar_of(truncated))
    bare = tmp_path / "bare.dump"  # truncated, and nothing recorded beside it
    bare.write_bytes(dump.read_bytes()[:-2000])
    head = tmp_path / "head.dump"  # cut inside its table of contents
    head.write_bytes(dump.read_bytes()[:1000])
    foreign = tmp_path / "notes.dump"
    foreign.write_text("these are not the rows you are looking for\n")
    cases = {
        truncated: f"truncated.dump is {truncated.stat().st_size:,} bytes but was {dump.stat().st_size:,} when "
                   "pg_ops wrote it: truncated or altered",
        bare: "bare.dump is damaged: pg_restore cannot read all of it",
        head: "head.dump is not a pg_dump archive pg_restore can read",
        foreign: "notes.dump is not a pg_dump archive pg_restore can read (input file does not appear to be a "
                 "valid archive",
        tmp_path / "missing.dump": "missing.dump does not exist",
    }
    for path, expected in cases.items():
        line = one_line_error(pg_ops("restore", "--backup", str(path), "--into", "rs_never", env={"PG_OPS_DSN": dsn}))
        assert expected in line, line
    assert "needs --backup FILE and --into NEW_DATABASE" in one_line_error(
        pg_ops("restore", "--backup", str(dump), env={"PG_OPS_DSN": dsn}))
    assert "--jobs must be from 1 to 64" in one_line_error(
        pg_ops("restore", "--backup", str(dump), "--into", "rs_never", "--jobs", "0", env={"PG_OPS_DSN": dsn}))
    assert "--into must name a database in 1 to 63 bytes" in one_line_error(
        pg_ops("restore", "--backup", str(dump), "--into", "x" * 64, env={"PG_OPS_DSN": dsn}))
    assert databases(dsn) == before


def test_a_newer_servers_dump_is_refused(backed_up: tuple[str, Path]) -> None:
    _, dump = backed_up
    archive = restore.read_archive(dump)
    with pytest.raises(PgOpsError, match=r"comes from a PostgreSQL 15 server; this server is 14: restore it into a "
                                         r"server of version 15 or newer"):
        restore.check_versions(archive, server_major=14)


def test_the_drill_restores_checks_times_drops_and_pushes(pg: SandboxInfo, backed_up: tuple[str, Path]) -> None:
    dsn, dump = backed_up
    with servers.pushgateway() as gateway:
        resources = {"target": PostgresTarget(dsn=dsn), "pushgateway": PushgatewayTarget(url=gateway)}
        config = dg.RunConfig(ops={"restore_rehearsal": RestoreRehearsalConfig(folder=str(dump.parent))})
        result = dg.materialize([restore_rehearsal], resources=resources, run_config=config)
        assert result.success
        meta = {k: v.value for k, v in result.get_asset_materialization_events()[0].materialization.metadata.items()}
        assert meta["outcome"] == "restored and proven" and meta["restore_s"] > 0
        assert meta["restore_over_dump"] == pytest.approx(meta["restore_s"] / meta["dump_s"], rel=0.05)
        assert meta["backup_s"] >= meta["dump_s"]
        assert {c.check_name: c.passed for c in result.get_asset_check_evaluations()} == {
            "row_counts": True, "rls_matrix": True, "indexes": True}
        assert not [d for d in databases(dsn) if d.startswith("pgops_drill_")]  # the scratch database is gone
        first = _gateway(gateway)
        assert first["pg_ops_restore_drill_success"] == 1.0 and first["pg_ops_restore_drill_seconds"] > 0
        stamp = first["pg_ops_restore_drill_last_success_timestamp_seconds"]

        # The backup no longer matches what was recorded: the drill says which check failed, and the last
        # success's timestamp stays for the staleness alert.
        sidecar = backup.sidecar_of(dump)
        facts = json.loads(sidecar.read_text())
        kept = sidecar.read_text()
        facts["row_counts"]["public.orders"] += 1
        sidecar.write_text(json.dumps(facts))
        try:
            failed = dg.materialize([restore_rehearsal], resources=resources, run_config=config,
                                    raise_on_error=False)
        finally:
            sidecar.write_text(kept)
        checks = {c.check_name: c for c in failed.get_asset_check_evaluations()}
        assert not checks["row_counts"].passed
        assert "public.orders: " in (checks["row_counts"].description or "")
        second = _gateway(gateway)
        assert second["pg_ops_restore_drill_success"] == 0.0
        assert second["pg_ops_restore_drill_last_success_timestamp_seconds"] == stamp
        assert not [d for d in databases(dsn) if d.startswith("pgops_drill_")]


def test_a_drill_without_a_backup_is_one_line(backed_up: tuple[str, Path], tmp_path: Path) -> None:
    dsn, _ = backed_up
    line = one_line_error(pg_ops("restore", "--rehearse", "--folder", str(tmp_path), env={"PG_OPS_DSN": dsn}))
    assert f"no backup of rs_source in {tmp_path}" in line


def _gateway(url: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {m.group(1): float(m.group(2)) for m in re.finditer(
        r'^(pg_ops_restore_drill_\w+)\{[^}]*database="[^"]*rs_source"[^}]*\} (\S+)$', text, re.MULTILINE)}


def test_a_killed_drills_scratch_database_is_dropped_by_the_next_drill(pg: SandboxInfo,
                                                                       backed_up: tuple[str, Path]) -> None:
    dsn, dump = backed_up
    stale = f"pgops_drill_rs_source_{int(time.time()) - 2 * 86_400}_4242"
    running = f"pgops_drill_rs_source_{int(time.time()) - 60}_4243"  # another drill, still going
    servers.create_database(pg, stale)
    servers.create_database(pg, running)
    try:
        lines: list[str] = []
        drill = restore.rehearse(dsn, dump.parent, log=lines.append)
        assert drill.restored.passed
        assert f"drill: dropping {stale}, left by a drill that did not finish" in lines
        left = {d for d in databases(dsn) if d.startswith("pgops_drill_")}
        assert left == {running}
    finally:
        servers.drop_database(pg, stale)
        servers.drop_database(pg, running)
