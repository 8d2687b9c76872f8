"""The orecart image as Motherlode's drop-in: examples/motherlode/docker-compose.yaml's service
run as the equivalent ``docker run`` (socket, volumes, environment as the file has them).

The image is built by ``scripts/setup`` (scripts/build-image); the members' image is pulled
from the local registry by the host's daemon, through the mounted socket.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import docker
import neo4j
import pytest
import yaml
from tests.services.docker import BUSYBOX_IMAGE, PYTHON_IMAGE, push

from orecart.model import Graph

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "motherlode"
IMAGE = "orecart:latest"
_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")

PIPELINE = """\
CovidGraphPipeline:
  - name: CORD19
    image_repo: {repo}
    tag: "1"
    env_vars:
      CONFIGS_PAPER_BATCH_SIZE: 300
      CONFIGS_SOURCE: ${{CORD19_SOURCE}}
  - name: BIOBERT
    image_repo: {repo}
    tag: "1"
    dependencies:
      - CORD19
"""


def substituted(text: str, environ: Mapping[str, str]) -> str:
    """Compose's ``${VAR}`` and ``${VAR:-default}``, from ``environ``."""
    return _VARIABLE.sub(lambda m: environ.get(m.group(1)) or m.group(2) or "", text)


def docker_run_args(folder: Path, environ: Mapping[str, str]) -> list[str]:
    """``docker run`` arguments equal to ``docker compose up`` of the example's service."""
    compose = yaml.safe_load(substituted((EXAMPLE / "docker-compose.yaml").read_text(), environ))
    (service,) = compose["services"].values()
    args = ["--network", service["network_mode"]]
    for name, value in service["environment"].items():
        args += ["--env", f"{name}={'' if value is None else value}"]
    for volume in service["volumes"]:
        source, _, target = volume.partition(":")
        host = (folder / source).resolve() if source.startswith(".") else Path(source)
        args += ["--volume", f"{host}:{target}"]
    return [*args, service["image"]]


def _image_present(client: docker.DockerClient) -> None:
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"{IMAGE} is missing: run scripts/setup (scripts/build-image)",
                    pytrace=False)


def _serve(args: list[str], name: str, timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["docker", "run", "--rm", "--name", name, *args],
                              capture_output=True, text=True, timeout=timeout)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def _only_run(log: Path) -> Path:
    (run_dir,) = [p for p in (log / "runs").iterdir() if p.is_dir()]
    return run_dir


def _left(client: docker.DockerClient, run_id: str, name: str) -> list[object]:
    """Containers of the run, and the service's own, still on the daemon."""
    return [*client.containers.list(all=True, filters={"label": f"orecart.run={run_id}"}),
            *client.containers.list(all=True, filters={"name": f"^/{name}$"})]


def _log_nodes(graph: Graph, run_id: str) -> dict[str, str]:
    with neo4j.GraphDatabase.driver(graph.uri, auth=(graph.user, graph.password)) as driver:
        records, _, _ = driver.execute_query(
            "MATCH (n:_PipelineLogNode {run_id: $run}) RETURN n.member AS m, n.status AS s",
            run=run_id)
    return {r["m"]: r["s"] for r in records}


def test_compose_service_runs_the_pipeline_on_the_hosts_daemon(
    docker_ready: docker.DockerClient, registry: str, tmp_path: Path, neo4j_graph: Graph
) -> None:
    _image_present(docker_ready)
    repo = f"{registry}/covidgraph/data-cord19"
    push(docker_ready, PYTHON_IMAGE, f"{repo}:1")
    image = f"{registry}/orecart/motherlode:1"
    push(docker_ready, IMAGE, image)
    (tmp_path / "pipeline.yaml").write_text(PIPELINE.format(repo=repo))
    (tmp_path / "pipeline.env").write_text("CORD19_SOURCE=https://example.org/cord19\n")
    host, port = neo4j_graph.uri.removeprefix("bolt://").rsplit(":", 1)
    compose_env = {  # compose's own .env, in the form of Motherlode's .env.template
        "ORECART_IMAGE": image,
        "NEO4J": f"{{'host':'{host}','port':{port},'user':'neo4j',"
                 f"'password':'{neo4j_graph.password}'}}",
        "NEO4J_LECAGY_PARAMS": f"{{'GC_NEO4J_URL':'{host}','GC_NEO4J_USER':'neo4j',"
                               f"'GC_NEO4J_PASSWORD':'{neo4j_graph.password}'}}",
    }
    name = f"orecart-motherlode-test-{os.getpid()}"
    done = _serve(docker_run_args(tmp_path, compose_env), name, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"CONFIGS_SOURCE": "https://example.org/cord19"' in done.stdout  # /data/.env read
    assert neo4j_graph.password not in done.stdout + done.stderr

    log = tmp_path / "log"
    run_dir = _only_run(log)
    assert (log / "state.db").is_file()
    assert "CONFIGS_PAPER_BATCH_SIZE" in (run_dir / "logs" / "CORD19.log").read_text()
    # the run went into the graph of CONFIGS_NEO4J, and its members were handed that graph
    assert _log_nodes(neo4j_graph, run_dir.name) == {"CORD19": "succeeded",
                                                     "BIOBERT": "succeeded"}
    # the artifacts folder, /log/runs/... inside, was mounted from the host's ./log/runs/...
    loaded = json.loads((run_dir / "CORD19" / "loaded.json").read_text())
    assert loaded["member"] == "CORD19"
    configs = loaded["configs"]
    assert ast.literal_eval(configs["CONFIGS_NEO4J"])["port"] == int(port)
    assert configs["CONFIGS_GC_NEO4J_PASSWORD"] == neo4j_graph.password
    assert "ORECART_INPUT_CORD19 holds ['loaded.json']" in (
        run_dir / "logs" / "BIOBERT.log").read_text()
    # copili's per-member files in ./log (ORECART_LOG_DIR=/log), closing block included
    for member in ("CORD19", "BIOBERT"):
        text = (log / f"{member}.log").read_text()
        assert "FAILED: False" in text and "EXITED with status: 0" in text, text
        assert neo4j_graph.password not in text
    assert "CONFIGS_PAPER_BATCH_SIZE" in (log / "CORD19.log").read_text()
    assert not (tmp_path / ".orecart").exists()
    assert _left(docker_ready, run_dir.name, name) == []


SLOW = """\
StoppedPipeline:
  - name: SLOW
    image_repo: {repo}
    tag: "1"
    command: sleep 300
  - name: AFTER
    image_repo: {repo}
    tag: "1"
    dependencies: [SLOW]
"""


def _running_member(client: docker.DockerClient, member: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = client.containers.list(filters={"label": f"orecart.member={member}",
                                                "status": "running"})
        if found:
            return str(found[0].labels["orecart.run"])
        time.sleep(0.2)
    pytest.fail(f"no running container of {member} within {timeout}s")


def test_docker_stop_of_the_service_stops_the_run_and_removes_its_members(
    docker_ready: docker.DockerClient, registry: str, tmp_path: Path
) -> None:
    """``docker-compose stop`` (SIGTERM, SIGKILL 10 s later) of orecart, PID 1 there: the
    member, a ``sleep`` that ignores SIGTERM, is stopped and removed, and the run recorded
    as aborted, in time. No compose .env: its variables reach orecart as empty strings."""
    _image_present(docker_ready)
    repo = f"{registry}/covidgraph/slow"
    push(docker_ready, BUSYBOX_IMAGE, f"{repo}:1")
    (tmp_path / "pipeline.yaml").write_text(SLOW.format(repo=repo))
    (tmp_path / "pipeline.env").write_text("")
    name = f"orecart-motherlode-stop-{os.getpid()}"
    args = docker_run_args(tmp_path, {})
    service = subprocess.Popen(["docker", "run", "--rm", "--name", name, *args],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        run_id = _running_member(docker_ready, "SLOW", timeout=40)
        stopped = subprocess.run(["docker", "stop", name], capture_output=True, text=True,
                                 timeout=30)
        output, _ = service.communicate(timeout=30)
    finally:
        service.kill()
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    assert stopped.returncode == 0, stopped.stderr
    assert service.returncode == 130, output  # 137: killed before it was done
    assert "SLOW: aborted" in output and f"run {run_id}: aborted" in output
    assert "ERROR: aborted" in (tmp_path / "log" / "SLOW.log").read_text()
    assert _left(docker_ready, run_id, name) == []


def test_the_image_is_current() -> None:
    """What setup built is what this tree holds: build-image finds nothing to do."""
    if shutil.which("docker") is None:
        pytest.fail("docker is not installed: run scripts/setup", pytrace=False)
    done = subprocess.run(["bash", str(ROOT / "scripts" / "build-image")], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "is current" in done.stdout, done.stdout + done.stderr
