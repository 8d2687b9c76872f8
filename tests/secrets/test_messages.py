"""A password in a URI's user info never reaches a message: graph and state store URIs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import Cli

PIPELINE = """pipeline: g
graph: {uri: bolt://127.0.0.1:1, wait: 1s}
members:
  - {name: a, run: ['true']}
"""


@pytest.mark.parametrize(("option", "value", "shown"), [
    ("--graph", "bolt://neo4j:uri-pw-secret-11@127.0.0.1:1", "Neo4j at bolt://127.0.0.1:1"),
    ("--graph", "neo4j://neo4j:uri-pw-secret-11@127.0.0.1:1", "Neo4j at neo4j://127.0.0.1:1"),
    ("--state", "postgresql://me:uri-pw-secret-11@127.0.0.1:1/x",
     "postgresql://me:***@127.0.0.1:1/x"),
])  # fmt: skip
def test_no_uri_password_in_error_messages(
    tmp_path: Path, option: str, value: str, shown: str
) -> None:
    cli = Cli(tmp_path)
    cli.write(PIPELINE)
    done = cli("run", "pipeline.yaml", option, value)
    assert done.code != 0
    assert shown in done.err
    assert "uri-pw-secret-11" not in done.out + done.err
