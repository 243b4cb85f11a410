"""The backup before any change: pg_dump, read back, restored and counted; its failures in one line."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest

from pg_ops.engine import backup
from pg_ops.engine.db import connection
from pg_ops.engine.errors import PgOpsError


def test_backup_is_restored_and_counted_then_the_scratch_database_is_gone(demo_db: str, tmp_path: Path) -> None:
    lines: list[str] = []
    report = backup.take(demo_db, tmp_path / "backups", log=lines.append)
    assert report.path.parent == tmp_path / "backups" and report.path.name.startswith("t_test_backup_")
    assert report.path.suffix == ".dump" and report.size_bytes == report.path.stat().st_size > 100_000
    assert report.restore == "verified" and report.restore_seconds is not None
    assert report.row_counts["public.orders"] == 2000 and report.tables >= 5 and report.toc_entries > report.tables
    assert any("restoring into scratch database" in line for line in lines)
    with connection(demo_db) as conn:
        assert conn.execute("select count(*) as n from pg_database where datname like 'pgops_verify_%'"
                            ).fetchone() == {"n": 0}
        assert conn.execute("select count(*) as n from pg_stat_activity where application_name like 'pg_ops backup%'"
                            ).fetchone() == {"n": 0}


def test_backup_under_concurrent_writes_still_has_exact_parity(demo_db: str, tmp_path: Path) -> None:
    """Counts come from the dump's own snapshot, so the app may keep writing during the backup."""
    stop = threading.Event()
    written = []

    def app_writes() -> None:
        with connection(demo_db) as conn:
            template = conn.execute("select * from orders limit 1").fetchone()
            assert template is not None
            while not stop.is_set():
                conn.execute("insert into orders (id, customer_id, restaurant_id, status, subtotal, delivery_fee, "
                             "total_amount, delivery_address) values (%s, %s, %s, 'pending', 1, 1, 2, 'x')",
                             (uuid.uuid4(), template["customer_id"], template["restaurant_id"]))
                written.append(1)

    writer = threading.Thread(target=app_writes)
    writer.start()
    try:
        report = backup.take(demo_db, tmp_path, keep_last=1)
    finally:
        stop.set()
        writer.join(10)
    assert report.restore == "verified" and len(written) > 10


def test_retention_keeps_the_last_n(demo_db: str, tmp_path: Path) -> None:
    other = tmp_path / "t_test_backup_eu_20200101T000000.000000Z.dump"  # another database's backup
    other.write_text("not ours")
    names = [backup.take(demo_db, tmp_path, verify_restore=False, keep_last=2).path.name for _ in range(3)]
    assert sorted(p.name for p in tmp_path.glob("t_test_backup_2*.dump")) == sorted(names[1:])
    assert other.exists()
    skipped = backup.take(demo_db, tmp_path, verify_restore=False, keep_last=2)
    assert skipped.restore.startswith("skipped: verify_restore is off")


def test_unwritable_folder_is_one_line_and_nothing_is_written(demo_db: str, tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the backup folder should be")
    with pytest.raises(PgOpsError, match=r"backup folder .*not_a_folder/backups is not writable"):
        backup.take(demo_db, blocker / "backups")


def test_missing_pg_dump_names_the_package(demo_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PG_OPS_PG_BIN", str(tmp_path))
    with pytest.raises(PgOpsError, match="pg_dump not found in PG_OPS_PG_BIN=.*apt-get install postgresql-client-15"):
        backup.take(demo_db, tmp_path / "backups")
    assert not (tmp_path / "backups").exists()


def test_pg_dump_older_than_the_server_is_refused() -> None:
    with pytest.raises(PgOpsError, match=r"pg_dump is version 13, older than the server \(15\)"):
        backup.check_versions(13, 15, Path("/usr/bin/pg_dump"))
    backup.check_versions(15, 15, Path("/usr/bin/pg_dump"))
    backup.check_versions(16, 15, Path("/usr/bin/pg_dump"))


def test_password_goes_to_the_environment_never_the_command_line() -> None:
    env = backup.libpq_env("postgresql://deployer:s3cr%40t@db.example:6543/shop?sslmode=require")
    assert (env["PGUSER"], env["PGPASSWORD"], env["PGHOST"], env["PGPORT"], env["PGDATABASE"], env["PGSSLMODE"]) == (
        "deployer", "s3cr@t", "db.example", "6543", "shop", "require")
    assert backup.libpq_env("host=h dbname=a", dbname="b")["PGDATABASE"] == "b"
