"""The layers of ../shared/DESIGN.md, enforced: the engine never imports Dagster or the layers above it,
and the tree shows the layers (at most five files at the root of pg_ops/)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pg_ops"
# Who may import what: the engine knows only itself; local tools know the engine; defs know the engine.
FORBIDDEN = {
    "engine": ("dagster", "dagster_postgres", "dagster_docker", "pg_ops.defs", "pg_ops.local", "pg_ops.cli",
               "pg_ops.definitions"),
    "local": ("pg_ops.defs", "pg_ops.cli", "pg_ops.definitions"),
    "defs": ("pg_ops.local", "pg_ops.cli", "pg_ops.definitions"),
}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (imports inside functions count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_each_layer_imports_only_what_it_may(layer: str) -> None:
    files = sorted((PACKAGE / layer).rglob("*.py"))
    assert files, f"pg_ops/{layer} is empty"
    offences = [f"{path.relative_to(PACKAGE.parent)} imports {module}" for path in files
                for module in sorted(imported_modules(path))
                if any(module == banned or module.startswith(banned + ".") for banned in FORBIDDEN[layer])]
    assert offences == []


def test_the_scanner_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("def f():\n    from dagster import asset\n    import pg_ops.defs.sensors\n")
    assert {"dagster", "dagster.asset", "pg_ops.defs.sensors"} <= imported_modules(sneaky)


def test_the_root_of_the_package_holds_only_the_entry_points() -> None:
    files = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert files == ["__init__.py", "cli.py", "definitions.py"]
    assert sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))) == [
        "defs", "engine", "local"]
