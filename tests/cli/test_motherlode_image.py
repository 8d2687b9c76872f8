"""The orecart image as Motherlode's drop-in: examples/motherlode/docker-compose.yaml's service
run as the equivalent ``docker run`` (socket, volumes, environment as the file has them).

The image is built by ``scripts/setup`` (scripts/build-image); the members' image is pulled
from the local registry by the host's daemon, through the mounted socket.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import docker
import pytest
import yaml
from tests.services.docker import PYTHON_IMAGE, push

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


def test_compose_service_runs_the_pipeline_on_the_hosts_daemon(
    docker_ready: docker.DockerClient, registry: str, tmp_path: Path
) -> None:
    _image_present(docker_ready)
    repo = f"{registry}/covidgraph/data-cord19"
    push(docker_ready, PYTHON_IMAGE, f"{repo}:1")
    image = f"{registry}/orecart/motherlode:1"
    push(docker_ready, IMAGE, image)
    (tmp_path / "pipeline.yaml").write_text(PIPELINE.format(repo=repo))
    (tmp_path / "pipeline.env").write_text("CORD19_SOURCE=https://example.org/cord19\n")
    name = f"orecart-motherlode-test-{os.getpid()}"
    args = docker_run_args(tmp_path, {"ORECART_IMAGE": image})
    try:
        done = subprocess.run(["docker", "run", "--rm", "--name", name, *args],
                              capture_output=True, text=True, timeout=50)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"CONFIGS_SOURCE": "https://example.org/cord19"' in done.stdout  # /data/.env read

    log = tmp_path / "log"
    (run_dir,) = [p for p in (log / "runs").iterdir() if p.is_dir()]
    assert (log / "state.db").is_file()
    assert "CONFIGS_PAPER_BATCH_SIZE" in (run_dir / "logs" / "CORD19.log").read_text()
    # the artifacts folder, /log/runs/... inside, was mounted from the host's ./log/runs/...
    loaded = json.loads((run_dir / "CORD19" / "loaded.json").read_text())
    assert loaded["member"] == "CORD19"
    assert "ORECART_INPUT_CORD19 holds ['loaded.json']" in (
        run_dir / "logs" / "BIOBERT.log").read_text()
    assert not (tmp_path / ".orecart").exists()

    left = docker_ready.containers.list(all=True, filters={"label": f"orecart.run={run_dir.name}"})
    assert left == []
    assert docker_ready.containers.list(all=True, filters={"name": f"^/{name}$"}) == []


def test_the_image_is_current() -> None:
    """What setup built is what this tree holds: build-image finds nothing to do."""
    if shutil.which("docker") is None:
        pytest.fail("docker is not installed: run scripts/setup", pytrace=False)
    done = subprocess.run(["bash", str(ROOT / "scripts" / "build-image")], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "is current" in done.stdout, done.stdout + done.stderr
