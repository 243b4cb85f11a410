"""DAGSTER_HOME for local runs: a folder under the state dir whose dagster.yaml is the repository's."""

from __future__ import annotations

from pathlib import Path

from pg_ops.engine.paths import project_root, state_dir


def prepare() -> Path:
    home = state_dir() / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    link = home / "dagster.yaml"
    target = project_root() / "dagster.yaml"
    if link.is_symlink() or link.exists():
        if link.resolve() == target.resolve():
            return home
        link.unlink()
    link.symlink_to(target)
    return home
