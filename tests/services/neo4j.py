"""Neo4j for tests: the launcher under tests/neo4j, started once per session.

``neo4j_server`` starts Neo4j Community (embedded, Bolt on 127.0.0.1, auth enabled) in a
session temp dir and stops it at the end; ``neo4j_graph`` hands each test an
``orecart.model.Graph`` of it, wiped first. Tests that need Neo4j fail, never skip, when the
launcher was not built: run ``scripts/setup``. ``start_neo4j`` is the same start for
benchmarks, without pytest.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import neo4j
import pytest

from orecart.model import Graph

LAUNCHER_DIR = Path(__file__).resolve().parents[1] / "neo4j"
MAIN_CLASS = "org.orecart.testing.Launcher"
USER = "neo4j"
PASSWORD = "orecart-test-pw"
START_TIMEOUT = 180.0  # seconds; a cold JVM on two cores takes ~10


@dataclass(frozen=True)
class Neo4jServer:
    uri: str
    user: str
    password: str

    def graph(self, database: str | None = None) -> Graph:
        return Graph(self.uri, self.user, self.password, database=database)


def launcher_command(
    home: Path, *, port: int = 0, heap: str = "1g", pagecache_mb: int = 128, quick: bool = True
) -> list[str]:
    """The java command line; raises RuntimeError naming scripts/setup when not built.

    ``quick`` trades peak speed for a start about twice as fast (C1 JIT only, serial GC):
    right for tests, wrong for benchmarks.
    """
    classes = LAUNCHER_DIR / "target" / "classes"
    deps = LAUNCHER_DIR / "target" / "dependency"
    if not (classes / "org/orecart/testing/Launcher.class").is_file() or not deps.is_dir():
        raise RuntimeError(
            f"the Neo4j launcher is not built ({classes} missing): run scripts/setup "
            "(scripts/setup.d/40-neo4j.sh builds it with Maven)"
        )
    tuning = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"] if quick else []
    return [
        "java",
        f"-Xmx{heap}",
        *tuning,
        "-cp",
        f"{classes}{os.pathsep}{deps}/*",
        MAIN_CLASS,
        "--home",
        str(home),
        "--port",
        str(port),
        "--pagecache",
        str(pagecache_mb),
    ]


def start_neo4j(
    workdir: Path,
    password: str = PASSWORD,
    *,
    port: int = 0,
    heap: str = "1g",
    pagecache_mb: int = 128,
    quick: bool = True,
    timeout: float = START_TIMEOUT,
) -> tuple[subprocess.Popen[str], str]:
    """Start the launcher with its data in ``workdir``; return the process and its Bolt URI.

    The process stops when its stdin is closed (``stop_neo4j``) or on SIGTERM. Its log goes
    to ``workdir/launcher.log``. The password needs at least 8 characters (Neo4j's rule for
    the initial password).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    command = launcher_command(
        workdir / "home", port=port, heap=heap, pagecache_mb=pagecache_mb, quick=quick
    )
    env = {**os.environ, "NEO4J_PASSWORD": password}
    with open(workdir / "launcher.log", "ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=env,
        )
    uri = _await_ready(process, timeout, workdir / "launcher.log")
    return process, uri


def _await_ready(process: subprocess.Popen[str], timeout: float, log: Path) -> str:
    """Read the launcher's stdout until its READY line; kill it on timeout or early exit."""
    found: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("READY "):
                found.append(line.split()[1])
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if found:
        return found[0]
    stop_neo4j(process)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise RuntimeError(f"Neo4j launcher did not become ready within {timeout}s:\n{tail}")


def stop_neo4j(process: subprocess.Popen[str], timeout: float = 60.0) -> None:
    """Stop the launcher cleanly (stdin EOF, then SIGTERM, then SIGKILL)."""
    if process.poll() is None and process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wipe(server: Neo4jServer, database: str | None = None) -> None:
    """Delete every node and relationship (in batches) and drop constraints and indexes.

    Token lookup indexes stay, as in a fresh database (label scans need them).
    """
    with neo4j.GraphDatabase.driver(server.uri, auth=(server.user, server.password)) as driver:
        with driver.session(database=database) as session:
            session.run(
                "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
            ).consume()
            for record in session.run("SHOW CONSTRAINTS YIELD name").data():
                session.run(f"DROP CONSTRAINT {_quote(record['name'])} IF EXISTS").consume()
            indexes = session.run(
                "SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP' RETURN name"
            ).data()
            for record in indexes:
                session.run(f"DROP INDEX {_quote(record['name'])} IF EXISTS").consume()


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


@pytest.fixture(scope="session")
def neo4j_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Neo4jServer]:
    """One Neo4j for the whole session; fails (never skips) when it cannot start."""
    try:
        process, uri = start_neo4j(tmp_path_factory.mktemp("neo4j"))
    except (RuntimeError, OSError) as exc:
        pytest.fail(f"Neo4j is needed for this test and could not start: {exc}", pytrace=False)
    try:
        yield Neo4jServer(uri, USER, PASSWORD)
    finally:
        stop_neo4j(process)


@pytest.fixture
def neo4j_graph(neo4j_server: Neo4jServer) -> Graph:
    """The session's Neo4j as an ``orecart.model.Graph``, emptied for this test."""
    wipe(neo4j_server)
    return neo4j_server.graph()
