"""Waiting for Neo4j is said, bounded by --wait, and never waits on refused credentials."""

from __future__ import annotations

import re
import time

import pytest
from tests.cli.conftest import Cli
from tests.services.docker import free_port

from orecart.model import Graph

PIPELINE = """\
pipeline: waits
graph: {{uri: "{uri}", user: neo4j, password: "{password}", wait: 2m}}
members:
  - name: a
    run: [python3, -c, "print('ran')"]
"""


def test_closed_port_says_what_it_waits_for_and_gives_up_after_wait(cli: Cli) -> None:
    uri = f"bolt://127.0.0.1:{free_port()}"
    cli.write(PIPELINE.format(uri=uri, password="pw-not-shown"))
    started = time.monotonic()
    done = cli("run", "pipeline.yaml", "--wait", "3s", timeout=60)
    elapsed = time.monotonic() - started
    assert done.code == 1, done.out + done.err
    assert 3 <= elapsed < 6.5  # --wait wins over the file's 2m
    lines = done.err.splitlines()
    assert lines[0].startswith(f"waiting for Neo4j at {uri} (up to 3 s): ")
    assert "refused" in lines[0]
    assert re.match(rf"still waiting for Neo4j at {re.escape(uri)}, \d s of 3 s: ", lines[1])
    assert f"Neo4j at {uri} is unreachable after waiting 3s" in done.err
    assert "pw-not-shown" not in done.out + done.err
    assert "ran" not in done.out


def test_plan_waits_by_orecart_wait_too(cli: Cli) -> None:
    uri = f"bolt://127.0.0.1:{free_port()}"
    cli.write(PIPELINE.format(uri=uri, password="pw"))
    started = time.monotonic()
    done = cli("plan", "pipeline.yaml", env={"ORECART_WAIT": "1s"}, timeout=60)
    assert done.code == 1 and time.monotonic() - started < 5
    assert "waiting for Neo4j at" in done.err and "(up to 1 s)" in done.err


def test_bad_wait_is_invalid_input(cli: Cli) -> None:
    cli.write(PIPELINE.format(uri="bolt://127.0.0.1:1", password="pw"))
    done = cli("run", "pipeline.yaml", "--wait", "soon")
    assert done.code == 2 and "--wait" in done.err and "Traceback" not in done.err


def test_refused_password_fails_at_once_without_waiting(cli: Cli, neo4j_graph: Graph) -> None:
    cli.write(PIPELINE.format(uri=neo4j_graph.uri, password="not-the-password"))
    started = time.monotonic()
    done = cli("run", "pipeline.yaml", "--wait", "30s", timeout=60)
    assert done.code == 1 and time.monotonic() - started < 10
    assert "refused the credentials of user 'neo4j'" in done.err
    assert "waiting for" not in done.err and "not-the-password" not in done.err


def test_a_reachable_graph_runs_without_waiting_lines(cli: Cli, neo4j_graph: Graph) -> None:
    cli.write(PIPELINE.format(uri=neo4j_graph.uri, password=neo4j_graph.password))
    done = cli("run", "pipeline.yaml", "--wait", "10s")
    assert done.code == 0, done.out + done.err
    assert "waiting for" not in done.err and "ran" in done.out


@pytest.mark.parametrize(
    "command",
    [["graph", "status", "pipeline.yaml"], ["backup", "pipeline.yaml", "out.jsonl.gz"],
     ["restore", "pipeline.yaml", "in.jsonl.gz"]],
    ids=["graph-status", "backup", "restore"],
)
def test_graph_commands_say_they_wait_and_take_wait(cli: Cli, command: list[str]) -> None:
    uri = f"bolt://127.0.0.1:{free_port()}"
    cli.write(PIPELINE.format(uri=uri, password="pw-not-shown"))
    cli.write("", "in.jsonl.gz")
    started = time.monotonic()
    done = cli(*command, "--wait", "1s", timeout=60)
    assert done.code == 1 and time.monotonic() - started < 5  # not the file's 2m
    assert done.err.startswith(f"waiting for Neo4j at {uri} (up to 1 s): "), done.err
    assert f"Neo4j at {uri} is unreachable after waiting 1s" in done.err
    assert "pw-not-shown" not in done.out + done.err
