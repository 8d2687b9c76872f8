"""The layering the package keeps, read from its import statements: the CLI is a client of
the service (it never reaches into the runner); graph/ and the guards speak the model, not
the executors; the CLI's renderings (display, lines) are the CLI's alone."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import orecart

PACKAGE = Path(orecart.__file__).parent


def imports(path: Path) -> set[str]:
    """Every orecart module ``path`` imports, lazily (inside functions) or not."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("orecart")}


def modules(under: str) -> list[Path]:
    where = PACKAGE / under
    return sorted(where.rglob("*.py")) if where.is_dir() else [where]


def reaching(paths: list[Path], forbidden: str) -> list[str]:
    return [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in paths
        for name in sorted(imports(path))
        if name == forbidden or name.startswith(forbidden + ".")
    ]


@pytest.mark.parametrize(
    ("under", "forbidden"),
    [
        ("cli", "orecart.runner"),
        ("graph", "orecart.executors"),
        ("guards.py", "orecart.executors"),
        ("graphparts.py", "orecart.executors"),
    ],
)
def test_a_layer_does_not_import_what_it_must_not(under: str, forbidden: str) -> None:
    assert reaching(modules(under), forbidden) == []


def test_only_the_cli_imports_the_cli() -> None:
    outside = [p for p in PACKAGE.rglob("*.py") if PACKAGE / "cli" not in p.parents]
    outside = [p for p in outside if p.name != "__main__.py"]  # `python -m orecart`
    assert reaching(outside, "orecart.cli") == []
