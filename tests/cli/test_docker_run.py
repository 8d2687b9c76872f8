"""Image members through the CLI: a real dockerd and registry, Motherlode files unchanged,
digest-pinned reruns, `orecart images`, and nothing left behind after kill -9 or Ctrl-C."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

import docker
import pytest
from tests.cli.conftest import Cli
from tests.services.docker import BUSYBOX_IMAGE, PYTHON_IMAGE, busybox_variant, push

MOTHERLODE = Path(__file__).resolve().parents[2] / "examples" / "motherlode" / "pipeline.yaml"


def containers_of(client: docker.DockerClient, pipeline: str) -> list:
    """Listed sparsely: a full listing inspects each container, and one that another test
    removes meanwhile would raise NotFound."""
    return client.containers.list(
        all=True, sparse=True, filters={"label": f"orecart.pipeline={pipeline}"}
    )


def test_motherlode_example_runs_unchanged_from_a_registry(
    cli: Cli, docker_ready: docker.DockerClient, registry: str
) -> None:
    repo = f"{registry}/covidgraph/loader-{uuid.uuid4().hex[:6]}"
    push(docker_ready, PYTHON_IMAGE, f"{repo}:1")
    text = MOTHERLODE.read_text().replace("image_repo: orecart-test/python", f"image_repo: {repo}")
    cli.write(text)
    done = cli("run", "pipeline.yaml")  # Motherlode's own default: always check the registry
    assert done.code == 0, done.out + done.err
    data = cli("status", "pipeline.yaml", "--json").json()
    members = {m["member"]: m for m in data["members"]}
    assert [m["member"] for m in data["members"]] == ["CORD19", "BIOBERT"]
    assert all(m["status"] == "succeeded" for m in members.values())
    assert members["CORD19"]["digest"].startswith("sha256:")
    assert "CONFIGS_PAPER_BATCH_SIZE" in done.out  # the loader prints its CONFIGS_ settings
    assert not containers_of(docker_ready, "CovidGraphPipeline")


def test_repushed_tag_reruns_unchanged_tag_skips(
    cli: Cli, docker_ready: docker.DockerClient, registry: str
) -> None:
    repo = f"{registry}/loaders/digest-{uuid.uuid4().hex[:6]}"
    first = push(docker_ready, busybox_variant(docker_ready, "orecart-test/variant:a", "one"),
                 f"{repo}:prod")
    cli.write(f"""
pipeline: digests
members:
  - {{name: load, image: "{repo}:prod", command: [sh, -c, "cat /variant"]}}
  - {{name: local, run: ["true"], needs: [load]}}
""")
    assert cli("run", "pipeline.yaml").code == 0
    assert cli("status", "pipeline.yaml", "--json").json()["members"][0]["digest"] == first
    images = cli("images", "pipeline.yaml", "--json").json()
    assert images[0]["digest"] == first and images[0]["tag"] == "prod"
    assert {s["decision"] for s in cli("plan", "pipeline.yaml", "--json").json()["steps"]} == {
        "skip"}
    second = push(docker_ready, busybox_variant(docker_ready, "orecart-test/variant:b", "two"),
                  f"{repo}:prod")
    assert second != first
    step = cli("plan", "pipeline.yaml", "--json").json()["steps"][0]
    assert step["decision"] == "run"
    assert step["reason"] == f"image digest changed: {first[7:19]} -> {second[7:19]}"
    rerun = cli("run", "pipeline.yaml")
    assert rerun.code == 0 and "load | two" in rerun.out
    members = cli("status", "pipeline.yaml", "--json").json()["members"]
    assert [(m["status"], m["digest"]) for m in members][0] == ("succeeded", second)
    assert members[1]["status"] == "succeeded"  # it needs what reran


def test_kill_9_then_next_start_removes_the_container(
    cli: Cli, tmp_path: Path, docker_ready: docker.DockerClient
) -> None:
    name = f"crash-{uuid.uuid4().hex[:6]}"
    cli.write(f"""
pipeline: {name}
members:
  - name: stuck
    image: {BUSYBOX_IMAGE}
    pull: if-missing
    command: [sh, -c, "touch /orecart/artifacts/started; sleep 300"]
  - {{name: after, image: {BUSYBOX_IMAGE}, pull: if-missing, command: ["true"], needs: [stuck]}}
""")
    process = cli.start("run", "pipeline.yaml")
    deadline = time.monotonic() + 60
    while len(containers_of(docker_ready, name)) < 2 or not list(
        (tmp_path / ".orecart" / "runs").glob("*/stuck/started")
    ):
        assert time.monotonic() < deadline, "the container never started"
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    # the member's container runs on; the one created ahead for what needs it waits unstarted
    assert sorted(c.status for c in containers_of(docker_ready, name)) == ["created", "running"]
    cli.write(f"pipeline: {name}\nmembers:\n  - {{name: stuck, image: {BUSYBOX_IMAGE}, "
              "pull: if-missing, command: [\"true\"]}\n")
    assert cli("run", "pipeline.yaml").code == 0
    assert containers_of(docker_ready, name) == []
    history = cli("runs", "pipeline.yaml", "--json").json()
    assert [r["status"] for r in history] == ["succeeded", "aborted"]
    old = cli("show", history[1]["id"], "--json").json()["members"][0]
    assert old["status"] == "aborted"


def test_ctrl_c_stops_and_removes_containers(
    cli: Cli, tmp_path: Path, docker_ready: docker.DockerClient
) -> None:
    name = f"sigint-{uuid.uuid4().hex[:6]}"
    cli.write(f"""
pipeline: {name}
members:
  - {{name: a, image: {BUSYBOX_IMAGE}, pull: if-missing,
      command: [sh, -c, "touch /orecart/artifacts/up; sleep 300"]}}
  - {{name: b, image: {BUSYBOX_IMAGE}, pull: if-missing, command: [sleep, "300"]}}
  - {{name: c, image: {BUSYBOX_IMAGE}, pull: if-missing, command: ["true"], needs: [a]}}
""")
    process = cli.start("run", "pipeline.yaml")
    deadline = time.monotonic() + 60
    while len(containers_of(docker_ready, name)) < 3 or not list(
        (tmp_path / ".orecart" / "runs").glob("*/a/up")
    ):
        seen = [(c.name, c.status) for c in containers_of(docker_ready, name)]
        assert time.monotonic() < deadline, seen  # a and b run; c's container is created ahead
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=60)
    assert process.returncode == 130
    assert containers_of(docker_ready, name) == []
    members = cli("status", "pipeline.yaml", "--json").json()["members"]
    statuses = {m["member"]: m["status"] for m in members}
    assert statuses == {"a": "aborted", "b": "aborted", "c": "cancelled"}


@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"]
)  # a hang-up once killed orecart at once and left the containers running
def test_a_second_interrupt_kills_the_containers_at_once(
    cli: Cli, docker_ready: docker.DockerClient, signum: int
) -> None:
    # `sleep` as a container's PID 1 has no SIGTERM handler: a stop waits its whole grace.
    name = f"deaf-{uuid.uuid4().hex[:6]}"
    cli.write(f"""
pipeline: {name}
members:
  - {{name: deaf, image: {BUSYBOX_IMAGE}, pull: if-missing, command: [sleep, "300"]}}
""")
    process = cli.start("run", "pipeline.yaml")
    deadline = time.monotonic() + 60
    while [c.status for c in containers_of(docker_ready, name)] != ["running"]:
        assert time.monotonic() < deadline, "the member's container never ran"
        time.sleep(0.1)
    process.send_signal(signum)
    time.sleep(1.0)
    assert process.poll() is None, "the first interrupt waits for the stop's grace"
    second = time.monotonic()
    process.send_signal(signum)
    process.communicate(timeout=30)
    assert process.returncode == 130
    assert time.monotonic() - second < 4, "the second interrupt did not kill at once"
    assert containers_of(docker_ready, name) == []
    members = cli("status", "pipeline.yaml", "--json").json()["members"]
    assert [m["status"] for m in members] == ["aborted"]


def test_containers_of_runs_this_store_does_not_know_are_left_alone(
    cli: Cli, docker_ready: docker.DockerClient
) -> None:
    foreign = docker_ready.containers.run(
        BUSYBOX_IMAGE, ["sleep", "60"], detach=True,
        labels={"orecart.run": f"elsewhere-{uuid.uuid4().hex[:6]}", "orecart.member": "x",
                "orecart.pipeline": "another"},
    )
    try:
        cli.write(f"pipeline: mine\nmembers:\n  - {{name: a, image: {BUSYBOX_IMAGE}, "
                  "pull: if-missing, command: [\"true\"]}\n")
        assert cli("run", "pipeline.yaml").code == 0
        foreign.reload()
        assert foreign.status == "running"
    finally:
        foreign.remove(force=True)


def test_images_of_skipped_members_are_not_pulled(
    cli: Cli, docker_ready: docker.DockerClient, registry: str
) -> None:
    image = f"{registry}/loaders/skipped-{uuid.uuid4().hex[:6]}:1"
    push(docker_ready, BUSYBOX_IMAGE, image)
    cli.write(f"pipeline: skipped\nmembers:\n  - {{name: load, image: {image}, "
              "command: [\"true\"]}\n")
    assert cli("run", "pipeline.yaml").code == 0
    docker_ready.images.remove(image)  # the tag only: the image stays as BUSYBOX_IMAGE
    again = cli("run", "pipeline.yaml", "--json")  # pull policy always: the digest is looked up
    assert again.code == 0, again.err
    assert again.json()["members"][0]["status"] == "skipped"
    with pytest.raises(docker.errors.ImageNotFound):
        docker_ready.images.get(image)


def test_docker_host_chooses_the_daemon(cli: Cli, podman: str, tmp_path: Path) -> None:
    # Podman marks its containers with /run/.containerenv, Docker with /.dockerenv.
    where = "test -e /run/.containerenv && test ! -e /.dockerenv && touch /orecart/artifacts/podman"
    cli.write(f"pipeline: elsewhere\nmembers:\n  - {{name: a, image: {BUSYBOX_IMAGE}, "
              f"pull: never, command: [sh, -c, '{where}']}}\n")
    done = cli("run", "pipeline.yaml", env={"DOCKER_HOST": podman})
    assert done.code == 0, done.out + done.err
    assert list((tmp_path / ".orecart" / "runs").glob("*/a/podman"))
    socket = f"unix://{tmp_path}/no-daemon.sock"
    missing = cli("run", "pipeline.yaml", "--force", env={"DOCKER_HOST": socket})
    assert missing.code == 1
    assert f"cannot reach the docker daemon at {socket}" in missing.err
