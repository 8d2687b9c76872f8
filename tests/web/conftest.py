"""One real ``orecart serve --http`` for the API tests: a folder of pipeline files with
local-process members, a SQLite state store, tokens made by ``orecart token create``, and
an httpx client on a free port. Started once per session; killed at the end."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import Cli
from tests.service.conftest import Serve, wait_until

#: ``demo``: a succeeds; b fails while the file FAIL exists
DEMO = """
pipeline: demo
members:
  - name: a
    run: [sh, -c, "echo a"]
  - name: b
    needs: [a]
    rerun: always
    run: [sh, -c, "test ! -f {fail}"]
"""
#: ``gated``: its member waits (at most 20 s) for the file GATE
GATED = """
pipeline: gated
members:
  - name: wait
    rerun: always
    shell: |
      i=0; while [ ! -f {gate} ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done
"""
#: ``graphdown``: its graph is a port nothing listens on (a Neo4j that is down); written
#: only while a test needs it (schemathesis would find its 503s)
GRAPHDOWN = """
pipeline: graphdown
graph: {{uri: "bolt://127.0.0.1:{port}", user: neo4j, password: pw, wait: 1s}}
members:
  - name: one
    run: [sh, -c, "true"]
"""
QUICK = """
pipeline: quick
members:
  - name: one
    rerun: always
    run: [sh, -c, "true"]
"""
#: ``outputs``: ``art`` leaves artifacts (one a symlink out of its folder) and a log with a
#: secret; ``slow`` logs a line, waits (at most 20 s, while HOLD exists) for the file GATE,
#: logs another; a
#: file sensor that sees one file, a stored query and a trigger (no graph: never polled)
OUTPUTS = """
pipeline: outputs
sensors:
  - {{name: drops, file: {{glob: "{drops}/*.csv"}}, every: 1h}}
members:
  - name: art
    rerun: always
    env: {{API_TOKEN: s3cret-value-42}}
    shell: |
      mkdir -p "$ORECART_ARTIFACTS/sub"; echo one > "$ORECART_ARTIFACTS/out.txt"
      echo deeper > "$ORECART_ARTIFACTS/sub/deep.txt"
      ln -s {outside} "$ORECART_ARTIFACTS/link"; echo "token $API_TOKEN"; echo done
  - name: slow
    rerun: always
    shell: |
      echo before; i=0
      while [ -f {hold} ] && [ ! -f {gate} ] && [ $i -lt 400 ]; do
        sleep 0.05; i=$((i+1))
      done; echo after
queries:
  - {{name: jobs, cypher: "MATCH (j:Job {{s: $sample}}) RETURN j", params: {{sample: str}}}}
triggers:
  - {{name: new-job, type: node, node: {{label: Job, properties: {{s: sample}}}}, query: jobs}}
"""


@dataclass
class Api:
    folder: Path
    url: str
    serve: Serve
    tokens: dict[str, str]  # scope -> token
    cli: Cli

    def client(self, scope: str | None = "operate") -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[scope]}"} if scope else {}
        return httpx.Client(base_url=f"{self.url}/api/v1", headers=headers, timeout=15)

    def wait_status(self, run_id: str, *statuses: str) -> dict[str, object]:
        with self.client("read") as client:
            def reached() -> dict[str, object] | None:
                run: dict[str, object] = client.get(f"/runs/{run_id}").json()
                return run if run["status"] in statuses else None

            return wait_until(reached, f"run {run_id} {' or '.join(statuses)}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    folder = tmp_path_factory.mktemp("api")
    pipelines = folder / "pipelines"
    pipelines.mkdir()
    (pipelines / "demo.yaml").write_text(DEMO.format(fail=folder / "fail"))
    (pipelines / "gated.yaml").write_text(GATED.format(gate=folder / "gate"))
    (pipelines / "quick.yaml").write_text(QUICK)
    (folder / "drops").mkdir()
    (folder / "drops" / "a.csv").write_text("x\n")
    (folder / "outside.txt").write_text("not an artifact\n")
    (pipelines / "outputs.yaml").write_text(OUTPUTS.format(
        drops=folder / "drops", outside=folder / "outside.txt", gate=folder / "slow-gate",
        hold=folder / "slow-hold"))
    cli = Cli(folder)
    state = f"sqlite:///{folder / 'state.db'}"
    tokens = {scope: _token(cli, scope, state) for scope in ("read", "operate", "admin")}
    with http_serve(folder, cli, state) as (serve, url):
        yield Api(folder, url, serve, tokens, cli)


@contextmanager
def http_serve(folder: Path, cli: Cli, state: str,
               env: dict[str, str] | None = None) -> Iterator[tuple[Serve, str]]:
    """``orecart serve pipelines --http`` in ``folder`` on a free port, until the API
    answers: the process and the server's URL; killed at the end."""
    port, log = free_port(), folder / "serve.err"
    with log.open("w") as err:
        process = subprocess.Popen(
            cli.command("serve", "pipelines", "--state", state, "--grace", "1s",
                        "--http", f"127.0.0.1:{port}"),
            cwd=folder, env=cli.env(env), stdout=subprocess.DEVNULL, stderr=err, text=True)
    serve = Serve(process, log)
    try:
        serve.wait_log("http: serving the API")
        yield serve, f"http://127.0.0.1:{port}"
    finally:
        serve.kill()


def _token(cli: Cli, scope: str, state: str) -> str:
    done = cli("token", "create", "--scope", scope, "--name", scope, "--state", state)
    assert done.code == 0, done.err
    return done.out.strip()
