"""An installed pg_ops (a wheel, not this checkout) still finds its SQL and monitoring files."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.cli import REPO, one_line_error, pg_ops


def test_wheel_ships_sql_and_monitoring_and_finds_them(tmp_path: Path) -> None:
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
                           capture_output=True, text=True, check=False, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = tmp_path.glob("pg_ops-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "pg_ops/_share/sql/demo/31_orders.sql" in names
    assert "pg_ops/_share/monitoring/README.md" in names
    assert "pg_ops/definitions.py" in names
    assert "pg_ops/_share/monitoring/dagster/dagster.yaml" in names  # the production instance
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "pg-ops = pg_ops.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()

    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    found = subprocess.run([sys.executable, "-c", "from pg_ops.engine.paths import sql_dir, monitoring_dir; "
                            "print(sql_dir()); print(monitoring_dir())"],
                           capture_output=True, text=True, check=True, cwd=tmp_path,
                           env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    assert found.stdout.split() == [str(target / "pg_ops/_share/sql"), str(target / "pg_ops/_share/monitoring")]

    # The entry point the image's CMD and a user run starts, from the wheel (its dependencies from this venv).
    started = subprocess.run([sys.executable, "-c", "import sys, pg_ops; from pg_ops.cli import main; "
                              "print(pg_ops.__file__); sys.exit(main(['migrate', '--help']))"],
                             capture_output=True, text=True, check=False, cwd=tmp_path,
                             env={"PYTHONPATH": f"{target}:{':'.join(p for p in sys.path if 'site-packages' in p)}",
                                  "PATH": "/usr/bin:/bin"})
    assert started.returncode == 0, started.stderr[-2000:]
    assert started.stdout.startswith(str(target / "pg_ops")) and "--down-to VERSION" in started.stdout


def test_pg_ops_root_setting_wins(tmp_path: Path) -> None:
    (tmp_path / "sql").mkdir()
    found = subprocess.run([sys.executable, "-c", "from pg_ops.engine.paths import sql_dir; print(sql_dir())"],
                           capture_output=True, text=True, check=True, cwd=REPO,
                           env={"PG_OPS_ROOT": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert found.stdout.strip() == str(tmp_path / "sql")


def test_a_mistyped_pg_ops_root_is_one_line_not_a_silent_fallback(tmp_path: Path) -> None:
    result = pg_ops("migrate", "--plan", env={"PG_OPS_ROOT": str(tmp_path / "no-such-checkout"),
                                              "PG_OPS_DSN": "postgresql://nobody@127.0.0.1:1/none"})
    line = one_line_error(result)
    assert f"PG_OPS_ROOT={tmp_path / 'no-such-checkout'} has no sql/ folder" in line


def test_a_missing_system_package_without_apt_is_named_in_one_line(tmp_path: Path) -> None:
    """On a machine without apt, `make` names what to install instead of failing somewhere later."""
    bin_dir = tmp_path / "bin"  # the tools the Makefile's recipe uses, and no apt-get
    bin_dir.mkdir()
    for tool in ("make", "tr", "sort"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    result = subprocess.run(["make", "--no-print-directory", "system-packages",
                             "SYSTEM_NEEDS=/nonexistent/pg_ops_probe:pg-ops-probe-package"],
                            cwd=REPO, env={"PATH": str(bin_dir)}, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert result.stderr.splitlines()[0] == \
        "pg_ops: missing system packages: pg-ops-probe-package (install them with your package manager)"
    assert "installing" not in result.stdout
