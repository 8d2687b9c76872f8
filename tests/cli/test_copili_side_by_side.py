"""One Motherlode file, run by copili 1.4.1 and by orecart on the same dockerd: the
containers must receive the same environment, mounts and network, in the same order.

copili runs in a subprocess (it installs atexit and signal handlers) the way Motherlode
drives it: ``Pipeline(file).run()`` with ``CONFIGS_GLOBAL_PIPELINE_ENV_VARS`` handed over
by ``add_global_env_var``, ``CONFIGS_DOCKER_NETWORK_MODE`` as its ``network_mode`` and
a log folder. copili always pulls, so the test image is served by a local registry.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import docker
from tests.cli.conftest import Cli
from tests.services.docker import PYTHON_IMAGE, push

COPILI = """
import ast, logging, os, sys
import docker
from copili import Pipeline
logging.basicConfig(level=logging.INFO)  # copili's container loggers write at INFO
pipeline = Pipeline(sys.argv[1], docker_client=docker.from_env(), dot_env_path=sys.argv[2])
pipeline.container_log_path = sys.argv[3]
pipeline.network_mode = os.environ["CONFIGS_DOCKER_NETWORK_MODE"]
for key, value in ast.literal_eval(os.environ["CONFIGS_GLOBAL_PIPELINE_ENV_VARS"]).items():
    pipeline.add_global_env_var(key, value)
pipeline.run()
"""

REPORT = (
    "import json, os, time; print('REPORT ' + json.dumps({'t': time.time(), "
    "'env': dict(os.environ), "
    "'data': open('/data/marker.txt').read(), 'net': sorted(os.listdir('/sys/class/net')), "
    "'mounts': sorted(m.split()[1] + ' ' + m.split()[3].split(',')[0] "
    "for m in open('/proc/mounts') if m.split()[1].startswith('/data'))}))"
)

PIPELINE = """
SideBySide:
  - name: second-{tag}
    image_repo: {image}
    tag: "1"
    dependencies: [first-{tag}]
    command: [python3, -c, "{report}"]
    env_vars:
      SCRIPT: "echo \\\\$HOME"
      SOURCE: "${{SOURCE_URL}}/$RELEASE"
      CONFIGS_NO_OF_PROCESSES: 12
    volumes: {{"${{DATA_DIR}}": {{bind: /data, mode: ro}}}}
  - name: first-{tag}
    image_repo: {image}
    tag: "1"
    command: [python3, -c, "{report}"]
    env_vars: {{GC_NEO4J_USER: own-user, FLAG: true}}
    volumes: {{"${{DATA_DIR}}": {{bind: /data, mode: ro}}}}
"""

ENVIRON = {
    "SOURCE_URL": "https://example.org/data",
    "RELEASE": "2021-03",
    "CONFIGS_GLOBAL_PIPELINE_ENV_VARS": "{'GC_NEO4J_URL': 'localhost', "
    "'GC_NEO4J_USER': 'neo4j', 'GC_NEO4J_PASSWORD': 'pw-sbs', 'DEBUG': True}",
    "CONFIGS_DOCKER_NETWORK_MODE": "none",
}


def _reports(log_dir: Path) -> list[tuple[str, dict]]:
    """(member, report) in the order the members ran, from their copili-style logs."""
    found = []
    for path in log_dir.glob("*.log"):
        for line in path.read_text().splitlines():
            if "REPORT " in line:  # copili's lines start with docker's timestamp
                found.append((path.stem, json.loads(line.split("REPORT ", 1)[1])))
    return sorted(found, key=lambda entry: entry[1]["t"])


def _comparable(report: dict) -> dict:
    """What the loader was given: its env less what only orecart (ORECART_*) or only copili
    (HOSTNAME set to the name; CONFIGS_CONFIGS_* copies of CONFIGS_ names) writes."""
    env = {
        k: v
        for k, v in report["env"].items()
        if not k.startswith(("ORECART_", "CONFIGS_CONFIGS_")) and k != "HOSTNAME"
    }
    return {"env": env, "data": report["data"], "net": report["net"],
            "mounts": report["mounts"]}


def test_copili_and_orecart_give_loaders_the_same(
    cli: Cli, tmp_path: Path, docker_ready: docker.DockerClient, registry: str
) -> None:
    image = f"{registry}/sbs/loader"
    push(docker_ready, PYTHON_IMAGE, f"{image}:1")
    tag = uuid.uuid4().hex[:8]  # copili names containers after members: no clashes
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "marker.txt").write_text("mounted")
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(PIPELINE.format(tag=tag, image=image, report=REPORT))
    environ = {**ENVIRON, "DATA_DIR": str(tmp_path / "data"), "HOME": "/host/home"}

    copili_logs = tmp_path / "copili-log"
    command = [sys.executable, "-c", COPILI, str(pipeline), str(tmp_path / "none.env"),
               str(copili_logs)]
    ran = subprocess.run(command, env={**os.environ, **environ}, capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr[-3000:]
    done = cli("run", "pipeline.yaml", "--log-dir", "orecart-log", env=environ)
    assert done.code == 0, done.out + done.err

    for log in copili_logs.iterdir():  # orecart redacts the password; copili did not
        log.write_text(log.read_text().replace("pw-sbs", "***"))
    by_copili = [(m, _comparable(r)) for m, r in _reports(copili_logs)]
    by_orecart = [(m, _comparable(r)) for m, r in _reports(tmp_path / "orecart-log")]
    assert [m for m, _ in by_copili] == [f"first-{tag}", f"second-{tag}"]
    assert by_orecart == by_copili
    second = dict(by_orecart)[f"second-{tag}"]
    assert second["env"]["SCRIPT"] == "echo $HOME"  # the escape kept, no host value
    assert second["env"]["SOURCE"] == "https://example.org/data/2021-03"
    assert (second["data"], second["net"]) == ("mounted", ["lo"])
    assert second["mounts"] == ["/data ro"]  # copili's volume form: the bind and its mode
    first = dict(by_orecart)[f"first-{tag}"]["env"]
    assert (first["CONFIGS_GC_NEO4J_USER"], first["FLAG"]) == ("own-user", "True")
    assert "pw-sbs" not in "".join(p.read_text() for p in (tmp_path / "orecart-log").iterdir())
