"""What a member receives of orecart's own environment: the allow-list (local members),
what the file declares, and what ``env_passthrough`` names or matches; nothing else.

Real runs of the real command; each member writes the environment it got as JSON into its
artifacts folder, and the test reads it back.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import docker
from tests.cli.conftest import Cli
from tests.services.docker import BUSYBOX_IMAGE

WRITE = "open(os.environ['ORECART_ARTIFACTS'] + '/env.json', 'w').write(json.dumps({**os.environ}))"
DUMP = f'[{sys.executable}, -c, "import json, os; {WRITE}"]'

OWN_ENV = {
    "SERVICE_DB_PASSWORD": "orecart-own-secret-1",  # the service's own secret
    "SOME_PLAIN_X": "not-for-members",
    "AWS_REGION": "eu-central-1",
    "AWS_ACCESS_KEY_ID": "AKIA-own-2",
    "EXTRA_NAME": "extra",
    "LC_ALL": "C.UTF-8",
    "https_proxy": "http://proxy.example:3128",
    "HOME": "/home/orecart-test",
    "PATH": os.environ["PATH"] + ":/orecart-host-only",
}


def _envs(cli: Cli, run: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The environment each member wrote, read back from its artifacts folder."""
    return {
        member["member"]: json.loads((Path(member["artifacts"]) / "env.json").read_text())
        for member in run["members"]
    }


def test_a_local_member_gets_the_allow_list_its_passthrough_and_what_is_declared(
    cli: Cli,
) -> None:
    cli.write(
        f"""
pipeline: envs
env: {{DECLARED: "yes"}}
env_passthrough: [EXTRA_NAME]
members:
  - name: plain
    run: {DUMP}
  - name: cloud
    run: {DUMP}
    env_passthrough: ["AWS_*"]
"""
    )
    done = cli("run", "pipeline.yaml", "--json", env=OWN_ENV)
    assert done.code == 0, done.err
    envs = _envs(cli, done.json())
    for name, env in envs.items():
        assert "SERVICE_DB_PASSWORD" not in env, name
        assert "SOME_PLAIN_X" not in env, name
        assert "orecart-own-secret-1" not in json.dumps(env), name
        assert env["PATH"] == OWN_ENV["PATH"]
        assert env["HOME"] == "/home/orecart-test"
        assert env["LC_ALL"] == "C.UTF-8"
        assert env["https_proxy"] == "http://proxy.example:3128"
        assert env["DECLARED"] == "yes"
        assert env["EXTRA_NAME"] == "extra"  # the pipeline's passthrough: every member
        assert env["ORECART_MEMBER"] == name
    assert "AWS_REGION" not in envs["plain"]
    assert envs["cloud"]["AWS_REGION"] == "eu-central-1"
    assert envs["cloud"]["AWS_ACCESS_KEY_ID"] == "AKIA-own-2"


def test_what_the_file_declares_wins_over_what_is_passed_through(cli: Cli) -> None:
    cli.write(
        f"""
pipeline: envs
members:
  - name: a
    run: {DUMP}
    env: {{EXTRA_NAME: from-the-file, PATH: "{cli.env()["PATH"]}:/declared"}}
    env_passthrough: [EXTRA_NAME]
"""
    )
    done = cli("run", "pipeline.yaml", "--json", env=OWN_ENV)
    assert done.code == 0, done.err
    env = _envs(cli, done.json())["a"]
    assert env["EXTRA_NAME"] == "from-the-file"
    assert env["PATH"].endswith(":/declared")


def test_a_container_gets_its_passthrough_but_not_the_hosts_allow_list(
    cli: Cli, docker_ready: docker.DockerClient
) -> None:
    cli.write(
        f"""
pipeline: envs
members:
  - name: box
    image: {BUSYBOX_IMAGE}
    pull: never
    command: [sh, -c, "echo HOME=$HOME; echo PATH=$PATH; echo R=$AWS_REGION; echo S=$SOME_PLAIN_X"]
    env_passthrough: ["AWS_*"]
"""
    )
    done = cli("run", "pipeline.yaml", "--json", env=OWN_ENV)
    assert done.code == 0, done.err
    log_lines = Path(done.json()["members"][0]["log_path"]).read_text("utf-8").splitlines()
    log = [line.split(" stdout ", 1)[1] for line in log_lines if " stdout " in line]
    assert "R=eu-central-1" in log
    assert "S=" in log  # not passed through
    assert "HOME=/home/orecart-test" not in log  # the host's HOME is not the container's
    assert not any("/orecart-host-only" in line for line in log)  # nor its PATH
