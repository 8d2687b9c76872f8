"""The docker executor against a real dockerd, real registries and locally built images."""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import wait
from dataclasses import fields as dataclass_fields
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker
import pytest

from orecart.errors import ExecutorError
from orecart.executors import containerlogs
from orecart.executors.containers import LABEL_RUN, member_name
from orecart.executors.docker import DockerExecutor, ImageInfo, image_report, reap
from orecart.model import (
    Container,
    Format,
    Member,
    MemberStatus,
    PullPolicy,
    RegistryAuth,
    Result,
    Sidecar,
    Task,
    Volume,
)
from orecart.spec.load import load_pipeline
from tests import fixtures
from tests.fixtures import Collector, log_texts
from tests.services.docker import (
    BUSYBOX_IMAGE,
    PYTHON_IMAGE,
    AuthRegistry,
    busybox_variant,
    push,
)

PIPELINE = "test"  # what tests.fixtures.make_task labels every container with
#: The run id of every task here: other test sessions may share this daemon at the same time.
RUN = f"t{uuid.uuid4().hex[:10]}"
CONTAINER_FIELDS = {f.name for f in dataclass_fields(Container)}


def image_member(
    name: str,
    script: str,
    image: str = BUSYBOX_IMAGE,
    pull: PullPolicy = PullPolicy.IF_MISSING,
    **fields: Any,
) -> Member:
    """A member running ``sh -c script``; Container fields and Member fields both go here."""
    own = {key: fields.pop(key) for key in list(fields) if key in CONTAINER_FIELDS}
    container = Container(image=image, command=("sh", "-c", script), pull=pull, **own)
    return Member(name=name, container=container, **fields)


def with_container(member: Member, **changes: Any) -> Member:
    assert member.container is not None
    return replace(member, container=replace(member.container, **changes))


def make_task(tmp_path: Path, member: Member, **overrides: Any) -> Task:
    return fixtures.make_task(tmp_path, member, **{"run_id": RUN, **overrides})


def leftovers(client: docker.DockerClient, run_id: str = RUN) -> list[str]:
    """Containers and networks of ``run_id`` still on the daemon."""
    label = {"label": f"{LABEL_RUN}={run_id}"}
    # sparse: a full listing inspects each container, and one removed meanwhile raised
    listed = client.containers.list(all=True, filters=label, sparse=True)
    found = [c.attrs["Names"][0].lstrip("/") for c in listed]
    return found + [n.name for n in client.networks.list(filters=label)]


@pytest.fixture
def client(docker_ready: docker.DockerClient) -> Iterator[docker.DockerClient]:
    assert leftovers(docker_ready) == [], "containers of an earlier test were left behind"
    yield docker_ready
    assert leftovers(docker_ready) == [], "this test left containers or networks behind"


@pytest.fixture
def executor(client: docker.DockerClient) -> Iterator[DockerExecutor]:
    made = DockerExecutor(grace=1.0)
    yield made
    made.close()


def run(executor: DockerExecutor, task: Task, sink: Collector | None = None) -> Result:
    return executor.submit(task, sink or Collector()).result(timeout=120)


# ---- running ---------------------------------------------------------------------------


def test_exit_codes_and_digest(
    executor: DockerExecutor, client: docker.DockerClient, tmp_path: Path
) -> None:
    ok = run(executor, make_task(tmp_path, image_member("ok", "echo hi")))
    bad = run(executor, make_task(tmp_path, image_member("bad", "exit 7")))
    assert ok.status is MemberStatus.SUCCEEDED and ok.exit_code == 0
    assert bad.status is MemberStatus.FAILED and bad.exit_code == 7
    image_id = client.images.get(BUSYBOX_IMAGE).id
    assert ok.digest == bad.digest == image_id  # a local-only image is known by its id


def test_env_artifacts_and_read_only_inputs(executor: DockerExecutor, tmp_path: Path) -> None:
    upstream = tmp_path / "runs" / RUN / "extract"
    upstream.mkdir(parents=True)
    (upstream / "rows.csv").write_text("a,b\n")
    script = (
        'echo "art=$ORECART_ARTIFACTS in=$ORECART_INPUT_EXTRACT level=$LOG_LEVEL";'
        'cat "$ORECART_INPUT_EXTRACT/rows.csv";'
        'echo written > "$ORECART_ARTIFACTS/out.txt";'
        'if touch "$ORECART_INPUT_EXTRACT/x" 2>/dev/null; then echo WRITABLE; fi'
    )
    member = image_member("load", script, env={"LOG_LEVEL": "debug"}, needs=("extract",))
    base = make_task(tmp_path, member)
    task = replace(
        base,
        inputs={"extract": upstream},
        env={**base.env, "ORECART_INPUT_EXTRACT": str(upstream)},
    )
    sink = Collector()
    result = run(executor, task, sink)
    assert result.status is MemberStatus.SUCCEEDED, result.error
    assert sink.lines() == [
        "art=/orecart/artifacts in=/orecart/inputs/extract level=debug",
        "a,b",
    ]
    assert (task.artifacts / "out.txt").read_text() == "written\n"
    assert not (upstream / "x").exists()


def test_python_loader_prints_and_writes_an_artifact(
    executor: DockerExecutor, tmp_path: Path
) -> None:
    code = (
        "import json, os, pathlib, sys\n"
        "out = pathlib.Path(os.environ['ORECART_ARTIFACTS']) / 'result.json'\n"
        "out.write_text(json.dumps({'rows': 3, 'python': sys.version_info[:2]}))\n"
        "print('loaded 3 rows', flush=True)\n"
    )
    container = Container(
        image=PYTHON_IMAGE, command=("python3", "-c", code), pull=PullPolicy.NEVER
    )
    task = make_task(tmp_path, Member(name="py", container=container))
    sink = Collector()
    result = run(executor, task, sink)
    assert result.status is MemberStatus.SUCCEEDED, (result.error, task.log_path.read_text())
    assert sink.lines() == ["loaded 3 rows"]
    assert json.loads((task.artifacts / "result.json").read_text()) == {
        "rows": 3,
        "python": [3, 11],
    }


def test_labels_user_workdir_limits_and_keep(
    executor: DockerExecutor, client: docker.DockerClient, tmp_path: Path
) -> None:
    member = image_member(
        "kept",
        "id -u; pwd; exit 4",
        user="nobody",
        working_dir="/tmp",
        cpus=0.5,
        memory="64m",
        labels={"team": "graph"},
    )
    task = replace(
        make_task(tmp_path, member), keep=True, labels={"orecart.pipeline": "x", "extra": "1"}
    )
    sink = Collector()
    result = run(executor, task, sink)
    assert result.status is MemberStatus.FAILED
    assert sink.lines() == ["65534", "/tmp"]
    kept = client.containers.get(member_name(RUN, "kept", 1))
    try:
        labels = kept.labels
        assert labels["team"] == "graph" and labels["extra"] == "1"
        assert labels["orecart.pipeline"] == PIPELINE  # orecart's own labels win
        assert labels["orecart.run"] == RUN and labels["orecart.member"] == "kept"
        host = kept.attrs["HostConfig"]
        assert host["NanoCpus"] == 500_000_000 and host["Memory"] == 64 * 1024 * 1024
    finally:
        kept.remove(force=True)


def test_volumes_in_compose_form(executor: DockerExecutor, tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "settings.ini").write_text("mode=fast\n")
    volumes = (
        Volume("./data", "/data"),
        Volume("conf", "/conf", read_only=True)
        if False
        else Volume("./conf", "/conf", read_only=True),
    )
    script = "cat /conf/settings.ini; echo out > /data/file; touch /conf/x 2>/dev/null || echo ro"
    task = make_task(tmp_path, image_member("vol", script, volumes=volumes))
    sink = Collector()
    assert run(executor, task, sink).status is MemberStatus.SUCCEEDED
    assert sink.lines() == ["mode=fast", "ro"]
    assert (tmp_path / "data" / "file").read_text() == "out\n"


def test_sidecar_is_reachable_by_name_and_logged(
    executor: DockerExecutor, client: docker.DockerClient, tmp_path: Path
) -> None:
    serve = (
        "mkdir -p /www && echo hello-from-sidecar > /www/index.html && echo sidecar-up "
        "&& exec httpd -f -p 8080 -h /www"
    )
    sidecar = Sidecar(name="web", image=BUSYBOX_IMAGE, command=("sh", "-c", serve))
    script = (
        "for i in $(seq 100); do wget -q -O - http://web:8080/ && exit 0; sleep 0.1; done; exit 1"
    )
    task = make_task(tmp_path, image_member("client", script, sidecars=(sidecar,)))
    sink = Collector()
    result = run(executor, task, sink)
    assert result.status is MemberStatus.SUCCEEDED, task.log_path.read_text()
    assert "hello-from-sidecar" in sink.lines()
    assert "[web] sidecar-up" in log_texts(task.log_path, "stdout")


def test_host_network_reaches_the_host_loopback(executor: DockerExecutor, tmp_path: Path) -> None:
    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"db-on-loopback")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        script = f"wget -q -O - http://127.0.0.1:{server.server_address[1]}/"
        task = make_task(tmp_path, image_member("hosty", script, network_mode="host"))
        sink = Collector()
        assert run(executor, task, sink).status is MemberStatus.SUCCEEDED
        assert sink.lines() == ["db-on-loopback"]
    finally:
        server.shutdown()
        server.server_close()


def test_timeout_stops_then_kills_the_container(
    executor: DockerExecutor, client: docker.DockerClient, tmp_path: Path
) -> None:
    task = make_task(tmp_path, image_member("slow", "echo start; sleep 300", timeout=1.0))
    started = time.monotonic()
    result = run(executor, task)
    assert result.status is MemberStatus.FAILED
    assert result.error == "timed out after 1s"
    assert time.monotonic() - started < 15


def test_a_silent_member_is_done_at_its_exit(
    executor: DockerExecutor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The follower follows the silent member, whose stream ends empty at the exit; the
    # pause it then takes before looking again must not delay the member's result.
    monkeypatch.setattr(containerlogs, "_PAUSE", 60.0)
    started = time.monotonic()
    result = run(executor, make_task(tmp_path, image_member("silent", "sleep 1")))
    assert result.status is MemberStatus.SUCCEEDED
    assert time.monotonic() - started < 8  # not the pause, nor settle's 10 s of grace


def test_an_exit_status_that_cannot_be_read_is_errored(
    executor: DockerExecutor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The member exits 0, but its container is gone before the executor reads how it ended
    # (removed by someone else right after the exit): unknown is never success.
    real_wait = executor.client.api.wait

    def wait_then_lose(container: str, *args: Any, **kwargs: Any) -> Any:
        ended = real_wait(container, *args, **kwargs)
        executor.client.api.remove_container(container, force=True)
        return ended

    monkeypatch.setattr(executor.client.api, "wait", wait_then_lose)
    result = run(executor, make_task(tmp_path, image_member("gone", "exit 0")))
    assert result.status is MemberStatus.ERRORED
    assert result.error and "cannot read the exit status" in result.error


def test_out_of_memory_is_errored(executor: DockerExecutor, tmp_path: Path) -> None:
    script = "head -c 200m /dev/zero | tail > /dev/null; exit 137"
    result = run(executor, make_task(tmp_path, image_member("hog", script, memory="8m")))
    assert result.status is MemberStatus.ERRORED
    assert result.error == "killed: out of memory (memory limit 8m)"


def test_leftover_container_of_the_same_name_does_not_block(
    executor: DockerExecutor, client: docker.DockerClient, tmp_path: Path
) -> None:
    labels = {LABEL_RUN: RUN, "orecart.member": "again", "orecart.attempt": "1",
              "orecart.role": "member"}
    client.containers.create(BUSYBOX_IMAGE, ["true"], name=member_name(RUN, "again", 1),
                             labels=labels)
    result = run(executor, make_task(tmp_path, image_member("again", "echo fine")))
    assert result.status is MemberStatus.SUCCEEDED, result.error


def test_another_members_container_of_the_same_name_is_never_removed(
    executor: DockerExecutor, client: docker.DockerClient, tmp_path: Path
) -> None:
    """A name clash (the old names cut at 200 characters, or sanitized `x.` as `x`) once
    force-removed the other member's container; now the attempt is errored instead."""
    labels = {LABEL_RUN: RUN, "orecart.member": "other", "orecart.attempt": "1",
              "orecart.role": "member"}
    other = client.containers.create(BUSYBOX_IMAGE, ["true"],
                                     name=member_name(RUN, "clash", 1), labels=labels)
    try:
        result = run(executor, make_task(tmp_path, image_member("clash", "echo never")))
        assert result.status is MemberStatus.ERRORED
        assert result.error and "is not this member's" in result.error
        other.reload()  # still there
    finally:
        other.remove(force=True)


def test_command_not_found_is_errored(executor: DockerExecutor, tmp_path: Path) -> None:
    container = Container(image=BUSYBOX_IMAGE, command=("/no/such/loader",), pull=PullPolicy.NEVER)
    result = run(executor, make_task(tmp_path, Member(name="nope", container=container)))
    assert result.status is MemberStatus.ERRORED
    assert result.error and "no/such/loader" in result.error


# ---- images ----------------------------------------------------------------------------


def test_missing_image_is_errored(executor: DockerExecutor, registry: str, tmp_path: Path) -> None:
    never = image_member("never", "true", image="orecart-test/absent:1", pull=PullPolicy.NEVER)
    result = run(executor, make_task(tmp_path, never))
    assert result.status is MemberStatus.ERRORED
    assert result.error and "not present locally" in result.error
    unknown = image_member("unknown", "true", image=f"{registry}/absent:1", pull=PullPolicy.ALWAYS)
    result = run(executor, make_task(tmp_path, unknown))
    assert result.status is MemberStatus.ERRORED
    assert result.error and f"{registry}/absent:1" in result.error


def test_resolve_follows_a_repushed_tag_and_pins_hold(
    executor: DockerExecutor, client: docker.DockerClient, registry: str, tmp_path: Path
) -> None:
    target = f"{registry}/orecart/moving:1"
    first = push(client, busybox_variant(client, "orecart-test/variant:one", "one"), target)
    member = image_member("moving", "cat /variant", image=target, pull=PullPolicy.ALWAYS)
    assert executor.resolve(member) == first
    second = push(client, busybox_variant(client, "orecart-test/variant:two", "two"), target)
    assert second != first
    assert executor.resolve(member) == second
    sink = Collector()
    result = run(executor, make_task(tmp_path, member), sink)
    assert (result.status, result.digest, sink.lines()) == (MemberStatus.SUCCEEDED, second, ["two"])
    pinned = image_member("pinned", "cat /variant", image=f"{registry}/orecart/moving@{first}")
    assert executor.resolve(pinned) == first
    sink = Collector()
    result = run(executor, make_task(tmp_path, pinned), sink)
    assert (result.status, result.digest, sink.lines()) == (MemberStatus.SUCCEEDED, first, ["one"])


def test_task_digest_is_what_runs(
    executor: DockerExecutor, client: docker.DockerClient, registry: str, tmp_path: Path
) -> None:
    """The runner fingerprints ``resolve``; a tag moving before the run does not change it."""
    target = f"{registry}/orecart/planned:1"
    planned = push(client, busybox_variant(client, "orecart-test/variant:p1", "planned"), target)
    push(client, busybox_variant(client, "orecart-test/variant:p2", "moved"), target)
    member = image_member("planned", "cat /variant", image=target, pull=PullPolicy.ALWAYS)
    sink = Collector()
    result = run(executor, replace(make_task(tmp_path, member), digest=planned), sink)
    assert (result.digest, sink.lines()) == (planned, ["planned"])


def test_pull_policies(
    executor: DockerExecutor, client: docker.DockerClient, registry: str, tmp_path: Path
) -> None:
    target = f"{registry}/orecart/policy:1"
    digest = push(client, busybox_variant(client, "orecart-test/variant:policy", "policy"), target)
    client.images.remove(target)
    client.images.remove("orecart-test/variant:policy")
    never = image_member("never", "cat /variant", image=target, pull=PullPolicy.NEVER)
    assert run(executor, make_task(tmp_path, never)).status is MemberStatus.ERRORED
    missing = replace(with_container(never, pull=PullPolicy.IF_MISSING), name="missing")
    result = run(executor, make_task(tmp_path, missing))
    assert (result.status, result.digest) == (MemberStatus.SUCCEEDED, digest)
    assert client.images.get(target).id  # pulled, and tagged with the member's tag
    result = run(executor, make_task(tmp_path, never))
    assert (result.status, result.digest) == (MemberStatus.SUCCEEDED, digest)
    # present locally: if-missing and never do not ask the (here unreachable) registry
    client.images.get(BUSYBOX_IMAGE).tag("127.0.0.1:9/orecart/offline", "1")
    try:
        for policy in (PullPolicy.IF_MISSING, PullPolicy.NEVER):
            offline = image_member(
                "offline", "true", image="127.0.0.1:9/orecart/offline:1", pull=policy
            )
            assert executor.resolve(offline) == client.images.get(BUSYBOX_IMAGE).id
        always = image_member(
            "offline", "true", image="127.0.0.1:9/orecart/offline:1", pull=PullPolicy.ALWAYS
        )
        with pytest.raises(ExecutorError, match="127.0.0.1:9"):
            executor.resolve(always)
        result = run(executor, make_task(tmp_path, always))
        assert result.status is MemberStatus.ERRORED and "127.0.0.1:9" in (result.error or "")
    finally:
        client.images.remove("127.0.0.1:9/orecart/offline:1")


def _private_image(
    client: docker.DockerClient, auth_registry: AuthRegistry, name: str
) -> tuple[str, str]:
    host, user, password = auth_registry
    target = f"{host}/orecart/{name}:1"
    local = busybox_variant(client, f"orecart-test/variant:{name}", name)
    digest = push(client, local, target, {"username": user, "password": password})
    client.images.remove(target)
    client.images.remove(f"orecart-test/variant:{name}")
    return target, digest


def test_registry_auth_denied_then_granted(
    executor: DockerExecutor,
    client: docker.DockerClient,
    auth_registry: AuthRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ORECART_REGISTRY_USERNAME", raising=False)
    target, digest = _private_image(client, auth_registry, "private")
    member = image_member("private", "cat /variant", image=target, pull=PullPolicy.ALWAYS)
    denied = run(executor, make_task(tmp_path, member))
    assert denied.status is MemberStatus.ERRORED
    assert denied.error and ("unauthorized" in denied.error or "no basic auth" in denied.error)
    creds = RegistryAuth(auth_registry.user, auth_registry.password)
    with_auth = with_container(member, auth=creds)
    sink = Collector()
    result = run(executor, make_task(tmp_path, with_auth), sink)
    assert (result.status, result.digest, sink.lines()) == (
        MemberStatus.SUCCEEDED,
        digest,
        ["private"],
    )


def test_registry_auth_from_environment(
    executor: DockerExecutor,
    client: docker.DockerClient,
    auth_registry: AuthRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target, digest = _private_image(client, auth_registry, "fromenv")
    key = auth_registry.host.upper().replace(".", "_").replace(":", "_")
    monkeypatch.setenv(f"ORECART_REGISTRY_{key}_USERNAME", auth_registry.user)
    monkeypatch.setenv(f"ORECART_REGISTRY_{key}_PASSWORD", auth_registry.password)
    member = image_member("fromenv", "cat /variant", image=target, pull=PullPolicy.IF_MISSING)
    result = run(executor, make_task(tmp_path, member))
    assert (result.status, result.digest) == (MemberStatus.SUCCEEDED, digest), result.error


def test_registry_auth_from_docker_config(
    client: docker.DockerClient,
    auth_registry: AuthRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target, digest = _private_image(client, auth_registry, "fromconfig")
    token = base64.b64encode(f"{auth_registry.user}:{auth_registry.password}".encode()).decode()
    config = tmp_path / "docker-config"
    config.mkdir()
    (config / "config.json").write_text(
        json.dumps({"auths": {auth_registry.host: {"auth": token}}})
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(config))  # read when the client is made
    executor = DockerExecutor(grace=1.0)
    try:
        member = image_member("fromconfig", "true", image=target, pull=PullPolicy.ALWAYS)
        assert executor.resolve(member) == digest
        assert run(executor, make_task(tmp_path, member)).status is MemberStatus.SUCCEEDED
    finally:
        executor.close()


def test_image_report(client: docker.DockerClient, registry: str) -> None:
    target = f"{registry}/orecart/report:1"
    digest = push(client, busybox_variant(client, "orecart-test/variant:report", "report"), target)
    members = [
        image_member("local", "true"),
        image_member("remote", "true", image=target, pull=PullPolicy.ALWAYS),
        image_member("absent", "true", image="orecart-test/absent:1", pull=PullPolicy.NEVER),
        Member(name="plain", run=("true",)),
    ]
    report = image_report(members)
    busybox_id = client.images.get(BUSYBOX_IMAGE).id
    assert report[:2] == [
        ImageInfo("local", BUSYBOX_IMAGE, "1", busybox_id, True, None),
        ImageInfo("remote", target, "1", digest, True, None),
    ]
    absent = report[2]
    assert (absent.member, absent.digest, absent.present_locally) == ("absent", None, False)
    assert absent.error and "not present locally" in absent.error
    assert len(report) == 3


# ---- containers created ahead -----------------------------------------------------------


def created_ahead(client: docker.DockerClient, name: str) -> Any:
    """The container named ``name``, once it exists (``prepare`` creates it in the
    background; ``submit``, when nothing was prepared)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = client.containers.list(all=True, filters={"name": f"^/{name}$"})
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no container {name} was created ahead")


def prepared(
    executor: DockerExecutor, client: docker.DockerClient, tmp_path: Path, name: str, greeting: str
) -> tuple[Task, Any]:
    """A task of member ``name`` (echoing $GREETING) and the container prepared for it."""
    member = image_member(name, 'echo "from $GREETING"', env={"GREETING": greeting},
                          pull=PullPolicy.IF_MISSING)
    task = make_task(tmp_path, member, digest=executor.resolve(member))
    executor.prepare(task)
    return task, created_ahead(client, member_name(RUN, name, 1))


def creations(client: docker.DockerClient, name: str, since: float) -> list[str]:
    """Ids of the containers named ``name`` the daemon created since ``since``."""
    events = client.events(since=int(since), until=int(time.time()) + 1, decode=True,
                           filters={"type": "container", "event": "create"})
    return [e["id"] for e in events if e["Actor"]["Attributes"].get("name") == name]


def test_a_container_created_ahead_is_the_one_started(
    executor: DockerExecutor, client: docker.DockerClient, tmp_path: Path
) -> None:
    since = time.time() - 1
    task, container = prepared(executor, client, tmp_path, "ahead", greeting="ahead")
    name = container.name
    assert container.status == "created"  # created, not started: nothing ran yet
    assert sink_lines(executor, task) == ["from ahead"]
    assert creations(client, name, since) == [container.id]  # started, not made again


def test_a_container_created_ahead_for_another_config_is_replaced(
    executor: DockerExecutor, client: docker.DockerClient, tmp_path: Path
) -> None:
    since = time.time() - 1
    task, stale = prepared(executor, client, tmp_path, "changed", greeting="before")
    name = stale.name
    changed = replace(task, env={**task.env, "GREETING": "after"})
    assert sink_lines(executor, changed) == ["from after"]
    made = creations(client, name, since)
    assert len(made) == 2 and made[0] == stale.id


def test_a_container_created_ahead_but_never_started_is_removed_by_close(
    client: docker.DockerClient, tmp_path: Path
) -> None:
    executor = DockerExecutor(grace=1.0)
    try:
        member = image_member("unused", "true", pull=PullPolicy.IF_MISSING)
        executor.prepare(make_task(tmp_path, member, digest=executor.resolve(member)))
        created_ahead(client, member_name(RUN, "unused", 1))
    finally:
        executor.close()
    assert leftovers(client) == []


def test_a_discarded_preparation_is_removed_at_once(
    executor: DockerExecutor, client: docker.DockerClient, tmp_path: Path
) -> None:
    task, _ = prepared(executor, client, tmp_path, "cancelled", greeting="never")
    executor.discard(task)  # its member was cancelled: the executor stays open
    deadline = time.monotonic() + 10
    while leftovers(client):
        assert time.monotonic() < deadline, leftovers(client)
        time.sleep(0.05)


def sink_lines(executor: DockerExecutor, task: Task) -> list[str]:
    sink = Collector()
    result = run(executor, task, sink)
    assert result.status is MemberStatus.SUCCEEDED, result.error
    return sink.lines()


# ---- abort, reap, daemon ---------------------------------------------------------------


def test_abort_removes_containers_sidecars_and_networks(
    executor: DockerExecutor, client: docker.DockerClient, tmp_path: Path
) -> None:
    sidecar = Sidecar(name="helper", image=BUSYBOX_IMAGE, command=("sleep", "300"))
    sink = Collector()
    members = [
        image_member("long", "echo up; sleep 300"),
        image_member("withsidecar", "echo up; sleep 300", sidecars=(sidecar,)),
    ]
    futures = [executor.submit(make_task(tmp_path, m), sink) for m in members]
    sink.wait_for(2, timeout=60)
    assert len(leftovers(client)) == 4  # two members, one sidecar, one network
    executor.abort()
    done, _ = wait(futures, timeout=30)
    assert [f.result().status for f in futures] == [MemberStatus.ABORTED] * 2
    assert leftovers(client) == []
    late = executor.submit(make_task(tmp_path, image_member("late", "true")), sink).result(30)
    assert late.status is MemberStatus.ABORTED


def test_reap_removes_containers_of_dead_runs(client: docker.DockerClient) -> None:
    dead, live = f"{RUN}-dead", f"{RUN}-live"

    def start(run_id: str, member: str, role: str = "member") -> str:
        labels = {LABEL_RUN: run_id, "orecart.member": member, "orecart.role": role}
        container = client.containers.run(
            BUSYBOX_IMAGE, ["sleep", "300"], detach=True, labels=labels
        )
        return str(container.id)

    start(dead, "m1")
    start(dead, "m1", role="sidecar")
    start(dead, "m2")
    kept = start(live, "m3")
    client.networks.create(f"orecart-{dead}", labels={LABEL_RUN: dead})
    asked: list[str] = []

    def alive(run_id: str) -> bool:
        asked.append(run_id)
        return run_id != dead  # other sessions' runs on this daemon are alive too

    try:
        assert reap(alive) == [(dead, "m1"), (dead, "m2")]
        assert len(asked) == len(set(asked))  # each run id asked once
        assert leftovers(client, dead) == []
        assert [c.id for c in client.containers.list(filters={"label": f"{LABEL_RUN}={live}"})] == [
            kept
        ]
    finally:
        client.containers.get(kept).remove(force=True)


def test_unreachable_daemon_is_an_executor_error(tmp_path: Path) -> None:
    with pytest.raises(ExecutorError, match="cannot reach the docker daemon at unix://"):
        DockerExecutor(base_url=f"unix://{tmp_path}/no-docker.sock")


def test_podman_runs_a_member_through_its_docker_api(podman: str, tmp_path: Path) -> None:
    executor = DockerExecutor(base_url=podman, grace=1.0)
    try:
        script = 'echo "from podman"; echo kept > "$ORECART_ARTIFACTS/out.txt"; exit 3'
        task = make_task(tmp_path, image_member("podded", script, pull=PullPolicy.NEVER))
        sink = Collector()
        result = run(executor, task, sink)
        assert (result.status, result.exit_code) == (MemberStatus.FAILED, 3), result.error
        assert sink.lines() == ["from podman"]
        assert (task.artifacts / "out.txt").read_text() == "kept\n"
        assert result.digest and result.digest.startswith("sha256:")
    finally:
        executor.close()  # returns once the daemon removed what the executor started
    after = docker.DockerClient(base_url=podman)
    try:
        assert leftovers(after) == []
    finally:
        after.close()


def test_motherlode_example_runs_on_the_test_images(
    executor: DockerExecutor, tmp_path: Path
) -> None:
    source = Path(__file__).parents[2] / "examples" / "motherlode" / "pipeline.yaml"
    pipeline = load_pipeline(source, environ={})
    assert pipeline.format is Format.MOTHERLODE and pipeline.names == ("CORD19", "BIOBERT")
    cord19, biobert = (with_container(m, pull=PullPolicy.IF_MISSING) for m in pipeline.members)
    sink = Collector()
    first = make_task(tmp_path, cord19)
    assert run(executor, first, sink).status is MemberStatus.SUCCEEDED
    second = make_task(tmp_path, biobert)
    second = replace(
        second,
        inputs={"CORD19": first.artifacts},
        env={**second.env, "ORECART_INPUT_CORD19": str(first.artifacts)},
    )
    assert run(executor, second, sink).status is MemberStatus.SUCCEEDED
    configs = '{"CONFIGS_NO_OF_PROCESSES": "25", "CONFIGS_PAPER_BATCH_SIZE": "300"}'
    assert sink.lines("CORD19") == [f"CORD19: configs {configs}"]
    assert sink.lines("BIOBERT") == [
        "BIOBERT: configs {}",
        "BIOBERT: ORECART_INPUT_CORD19 holds ['loaded.json']",
    ]
    assert json.loads((second.artifacts / "loaded.json").read_text())["member"] == "BIOBERT"


def test_service_member_runs_until_the_executor_closes(
    client: docker.DockerClient, tmp_path: Path
) -> None:
    executor = DockerExecutor(grace=1.0)
    try:
        script = "echo serving; exec httpd -f -p 8080"
        task = make_task(tmp_path, image_member("svc", script, service=True))
        result = run(executor, task)
        assert (result.status, result.exit_code) == (MemberStatus.SUCCEEDED, None)
        running = client.containers.get(member_name(RUN, "svc", 1))
        assert running.status == "running"
    finally:
        executor.close()
    assert leftovers(client) == []
    texts = log_texts(task.log_path)
    assert "serving" in texts and "service 'svc' stopped" in texts
