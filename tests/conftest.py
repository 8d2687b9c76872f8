"""Shared test setup: every module in tests/services/ is a pytest plugin of fixtures that
start a real component (PostgreSQL, dockerd and a registry, Neo4j) once per session."""

from __future__ import annotations

from pathlib import Path

pytest_plugins = sorted(
    f"tests.services.{path.stem}"
    for path in (Path(__file__).parent / "services").glob("[!_]*.py")
)
