"""The dask executor beyond the contract suite, on a real scheduler and workers started on
127.0.0.1 (tests/services/dask.py): whole runs of ``orecart run`` on a cluster, a worker
SIGKILLed mid-member, image members on the worker's Docker Engine, resources and
artifacts copied to and from workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import docker
import docker.errors
import psutil
import pytest

from orecart.errors import ExecutorError
from orecart.executors import load_executor
from orecart.executors.daskguard import LABEL_OWNER
from orecart.model import MemberStatus
from orecart.stores import open_store
from tests.fixtures import Collector, alive, loader, log_texts, make_task, wait_gone
from tests.services.dask import DaskCluster


def orecart(folder: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORECART_")}
    return subprocess.run([sys.executable, "-m", "orecart", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=timeout)


def attempts(folder: Path, member: str) -> list[MemberStatus]:
    store = open_store(f"sqlite:///{folder / '.orecart' / 'state.db'}")
    try:
        (run,) = store.runs()
        return [a.status for a in store.attempts(run.id, member)]
    finally:
        store.close()


def wait_lines(path: Path, count: int, timeout: float = 60.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = path.read_text().split() if path.exists() else []
        if len(lines) >= count:
            return lines
        time.sleep(0.05)
    raise AssertionError(f"{path}: waited {timeout}s for {count} lines")


RUN_ON_CLUSTER = """\
pipeline: spread
members:
  - name: use_make
    shell: 'echo "made on a worker"; echo 42 > "$ORECART_ARTIFACTS/answer.txt"'
  - name: use
    needs: [use_make]
    shell: >-
      echo "the answer is $(cat "$ORECART_INPUT_USE_MAKE/answer.txt")";
      echo ok > "$ORECART_ARTIFACTS/seen"
"""


def test_a_run_on_the_cluster_streams_output_and_copies_artifacts(
    dask_cluster: DaskCluster, tmp_path: Path
) -> None:
    (tmp_path / "pipeline.yaml").write_text(RUN_ON_CLUSTER)
    address = dask_cluster.address.removeprefix("tcp://")
    done = orecart(tmp_path, "run", "pipeline.yaml", "--executor", f"dask://{address}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "made on a worker" in done.stdout and "the answer is 42" in done.stdout
    (run_dir,) = (tmp_path / ".orecart" / "runs").iterdir()
    # the workers wrote in folders of their own (a need whose name starts with the member's
    # has its own); the files came back where the runner keeps them
    assert (run_dir / "use_make" / "answer.txt").read_text() == "42\n"
    assert (run_dir / "use" / "seen").read_text() == "ok\n"
    assert log_texts(run_dir / "logs" / "use.log", "stdout") == ["the answer is 42"]
    workers = set(dask_cluster.worker_pids())
    (where,) = [t for t in log_texts(run_dir / "logs" / "use.log", "orecart") if "worker" in t]
    assert where.removeprefix("attempt 1 ran on dask worker ") in workers, where
    # once recorded, nothing of the run is left in the scheduler to be recomputed
    assert dask_cluster.scheduler_state() == {"tasks": 0, "events": 0}


def test_dask_local_is_a_cluster_of_the_runs_own(tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text(RUN_ON_CLUSTER)
    done = orecart(tmp_path, "run", "pipeline.yaml", "--executor", "dask://local")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the answer is 42" in done.stdout


KILLED = """\
pipeline: killed
settings:
  executor: {{name: dask, address: "{address}"}}
members:
  - name: first
    shell: 'echo run >> "{counts}/first"'
  - name: second
    shell: 'echo run >> "{counts}/second"'
  - name: victim
    needs: [first, second]
    retries: {{count: 1, backoff: 0s}}
    shell: >-
      echo $$ >> "{counts}/victim";
      if [ "$(wc -l < "{counts}/victim")" -eq 1 ]; then sleep 300; fi
  - name: after
    needs: [victim]
    shell: 'echo run >> "{counts}/after"'
"""


def test_a_worker_killed_mid_member_aborts_that_attempt_and_retries_it_once(
    small_dask_cluster: DaskCluster, tmp_path: Path
) -> None:
    counts = tmp_path / "counts"
    counts.mkdir()
    (tmp_path / "pipeline.yaml").write_text(
        KILLED.format(address=small_dask_cluster.address, counts=counts))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORECART_")}
    run = subprocess.Popen([sys.executable, "-m", "orecart", "run", "pipeline.yaml"],
                           cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    (member_pid,) = wait_lines(counts / "victim", 1)
    os.kill(small_dask_cluster.worker_of(int(member_pid)), signal.SIGKILL)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, out + err
    assert wait_gone([int(member_pid)], timeout=5) == [], "the lost worker's member lives on"
    # counted by the members themselves: the finished ones ran once, the victim twice
    assert [(counts / name).read_text().split() for name in ("first", "second", "after")] == [
        ["run"]] * 3
    assert len((counts / "victim").read_text().split()) == 2
    assert attempts(tmp_path, "victim") == [MemberStatus.ABORTED, MemberStatus.SUCCEEDED]
    assert attempts(tmp_path, "first") == [MemberStatus.SUCCEEDED]


def test_a_worker_lost_without_a_retry_policy_leaves_the_member_aborted(
    small_dask_cluster: DaskCluster, tmp_path: Path
) -> None:
    counts = tmp_path / "counts"
    counts.mkdir()
    text = KILLED.format(address=small_dask_cluster.address, counts=counts)
    (tmp_path / "pipeline.yaml").write_text(text.replace("retries: {count: 1, backoff: 0s}",
                                                          "retries: 0"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORECART_")}
    run = subprocess.Popen([sys.executable, "-m", "orecart", "run", "pipeline.yaml", "--json"],
                           cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    (member_pid,) = wait_lines(counts / "victim", 1)
    os.kill(small_dask_cluster.worker_of(int(member_pid)), signal.SIGKILL)
    out, err = run.communicate(timeout=120)
    assert run.returncode != 0, out + err
    members = {m["member"]: m for m in json.loads(out)["members"]}
    assert members["victim"]["status"] == "aborted"
    assert "worker lost" in members["victim"]["error"]
    assert members["after"]["status"] == "cancelled"
    assert len((counts / "victim").read_text().split()) == 1
    assert attempts(tmp_path, "victim") == [MemberStatus.ABORTED]


def test_an_image_member_runs_on_the_workers_docker_engine(
    dask_cluster: DaskCluster, docker_ready: object, tmp_path: Path
) -> None:
    executor = load_executor("dask", address=dask_cluster.address, grace=1.0)
    try:
        script = 'echo "in a container: $ORECART_MEMBER"; echo 7 > "$ORECART_ARTIFACTS/seven"'
        task = make_task(tmp_path, loader("docker", "boxed", script))
        sink = Collector()
        result = executor.submit(task, sink).result(timeout=120)
    finally:
        executor.close()
    assert result.status is MemberStatus.SUCCEEDED, result.error
    assert sink.lines("boxed") == ["in a container: boxed"]
    assert (task.artifacts / "seven").read_text() == "7\n"  # copied back from the worker
    assert log_texts(task.log_path, "stdout") == ["in a container: boxed"]


def test_resources_reach_dask_and_ones_no_worker_offers_are_refused(
    dask_cluster: DaskCluster, tmp_path: Path
) -> None:
    executor = load_executor("dask", address=dask_cluster.address)
    try:
        fits = loader("fits", 'echo "$ORECART_MEMBER"', resources={"neo4j": 1, "memory": 2e9})
        greedy = loader("greedy", "echo never", resources={"gpu": 1})
        results = [executor.submit(make_task(tmp_path, m), Collector()).result(timeout=60)
                   for m in (fits, greedy)]
    finally:
        executor.close()
    assert results[0].status is MemberStatus.SUCCEEDED, results[0].error
    assert results[1].status is MemberStatus.ERRORED
    assert results[1].error is not None and "offers resources gpu=1" in results[1].error


def test_abort_of_one_run_leaves_another_runs_member_running(
    dask_cluster: DaskCluster, tmp_path: Path
) -> None:
    executor = load_executor("dask", address=dask_cluster.address, grace=1.0)
    sink = Collector()
    script = 'echo "pid $$"; exec sleep 300'
    try:
        stopped = make_task(tmp_path, loader("stopped", script), run_id="run-one")
        kept = make_task(tmp_path, loader("kept", script, timeout=30), run_id="run-two")
        futures = [executor.submit(task, sink) for task in (stopped, kept)]
        sink.wait_for(2, timeout=30)
        pids = {m: int(line.split()[1]) for m, line in sink.items}
        executor.abort("run-one")
        assert futures[0].result(timeout=30).status is MemberStatus.ABORTED
        assert wait_gone([pids["stopped"]], timeout=5) == []
        assert alive(pids["kept"]) and not futures[1].done()
        late = executor.submit(make_task(tmp_path, loader("late", "true"), run_id="run-one"),
                               sink)
        assert late.result(timeout=5).status is MemberStatus.ABORTED
    finally:
        executor.close()
    assert futures[1].result(timeout=30).status is MemberStatus.ABORTED


def test_abort_reaches_attempts_still_waiting_for_a_worker(
    dask_cluster: DaskCluster, tmp_path: Path
) -> None:
    executor = load_executor("dask", address=dask_cluster.address, grace=1.0)
    starts = tmp_path / "starts"
    script = f'echo "pid $$"; echo x >> "{starts}"; exec sleep 300'
    sink = Collector()
    try:  # 8 threads in the cluster: the ninth waits in the scheduler
        futures = [executor.submit(make_task(tmp_path, loader(f"m{i}", script), run_id="r"), sink)
                   for i in range(9)]
        sink.wait_for(8, timeout=30)
        executor.abort("r")
        results = [f.result(timeout=30) for f in futures]
        time.sleep(0.5)  # a start that would come now would be too late
    finally:
        executor.close()
    assert [r.status for r in results] == [MemberStatus.ABORTED] * 9
    assert len(starts.read_text().split()) == 8, "the waiting one started after its abort"
    assert wait_gone([int(line.split()[1]) for line in sink.lines()], timeout=5) == []


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:1"])
def test_an_unreachable_scheduler_is_an_errored_result(address: str, tmp_path: Path) -> None:
    executor = load_executor("dask", address=address, connect_timeout=2.0)
    try:
        result = executor.submit(make_task(tmp_path, loader("lonely", "true")),
                                 Collector()).result(timeout=60)
    finally:
        executor.close()
    assert result.status is MemberStatus.ERRORED
    assert result.error is not None and "cannot reach the dask scheduler" in result.error


def test_a_lost_scheduler_aborts_the_attempt_and_its_member_stops(
    small_dask_cluster: DaskCluster, tmp_path: Path
) -> None:
    executor = load_executor("dask", address=small_dask_cluster.address, grace=1.0)
    sink = Collector()
    try:
        orphan = loader("orphan", 'echo "pid $$"; exec sleep 300')
        future = executor.submit(make_task(tmp_path, orphan), sink)
        (line,) = sink.wait_for(1, timeout=30)
        os.killpg(small_dask_cluster.processes[0].pid, signal.SIGKILL)  # the scheduler
        result = future.result(timeout=30)
        assert result.status is MemberStatus.ABORTED
        assert result.error == "aborted: lost contact with the dask scheduler"
        # its outcome can reach nobody now: the worker stops it rather than let it run on,
        # and the answer (after which a retry may start) waits until it has
        assert wait_gone([int(line.split()[1])], timeout=0.5) == []
    finally:
        executor.close()


class HeldSink(Collector):
    """A sink that holds the client's follower thread at the member's last line: the task
    has finished on its worker, its reply waits there uncollected."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def __call__(self, member: str, line: str) -> None:
        super().__call__(member, line)
        if line.startswith("pid"):
            self.gate.wait(timeout=60)


def test_a_reply_lost_with_its_worker_is_not_an_abort_and_nothing_runs_twice(
    small_dask_cluster: DaskCluster, tmp_path: Path
) -> None:
    executor = load_executor("dask", address=small_dask_cluster.address, grace=1.0)
    runs, sink = tmp_path / "counted", HeldSink()
    try:
        plain = loader("plain", f'echo x >> "{runs}"; echo "pid $$"')
        # artifacts past REPLY_EVENT_BYTES: its reply waits on the worker, not in an event
        files = loader("files", f'echo x >> "{runs}"; '
                                'head -c 100000 /dev/zero > "$ORECART_ARTIFACTS/f"; echo "pid $$"')
        futures = [executor.submit(make_task(tmp_path, m), sink) for m in (plain, files)]
        sink.wait_for(2, timeout=30)
        small_dask_cluster.wait_tasks("memory", 2)  # done, the replies on the worker
        (worker,) = small_dask_cluster.worker_pids().values()
        os.kill(worker, signal.SIGKILL)
        small_dask_cluster.wait_restarted(worker)  # by its nanny: Dask recomputes
        small_dask_cluster.wait_tasks("memory", 2)
        sink.gate.set()
        plain_result, files_result = (f.result(timeout=30) for f in futures)
    finally:
        sink.gate.set()
        executor.close()
    assert len(runs.read_text().split()) == 2, "a member ran again"
    assert plain_result.status is MemberStatus.SUCCEEDED, plain_result.error
    assert files_result.status is MemberStatus.ERRORED
    assert files_result.error is not None and "artifacts lost" in files_result.error


def test_attempts_no_remaining_worker_can_run_end_instead_of_waiting_forever(
    small_dask_cluster: DaskCluster, tmp_path: Path
) -> None:
    executor = load_executor("dask", address=small_dask_cluster.address, grace=1.0)
    sink = Collector()
    script = 'echo "pid $$"; exec sleep 300'
    try:  # the only worker offers neo4j=1: the second waits for the first
        futures = [executor.submit(make_task(tmp_path, loader(name, script,
                                                              resources={"neo4j": 1})), sink)
                   for name in ("running", "waiting")]
        (line,) = sink.wait_for(1, timeout=30)
        os.killpg(small_dask_cluster.processes[1].pid, signal.SIGKILL)  # worker and nanny
        running, waiting = (f.result(timeout=30) for f in futures)
    finally:
        executor.close()
    assert running.status is MemberStatus.ABORTED, running.error
    assert running.error is not None and "worker lost" in running.error
    assert waiting.status is MemberStatus.ERRORED, waiting.error
    assert waiting.error is not None and "offers resources neo4j=1" in waiting.error
    assert wait_gone([int(line.split()[1])], timeout=5) == []


def test_abort_while_the_scheduler_does_not_answer_does_not_wait_for_it(
    small_dask_cluster: DaskCluster, tmp_path: Path
) -> None:
    executor = load_executor("dask", address=small_dask_cluster.address, grace=1.0)
    sink = Collector()
    scheduler = small_dask_cluster.processes[0].pid
    try:
        futures = [executor.submit(make_task(tmp_path, loader(f"m{i}", "echo go; sleep 300")),
                                   sink) for i in range(2)]
        sink.wait_for(2, timeout=30)
        os.killpg(scheduler, signal.SIGSTOP)  # its connections stay open, nothing answers
        aborting = threading.Thread(target=executor.abort, daemon=True)
        began = time.monotonic()
        aborting.start()
        aborting.join(timeout=20)
        took = time.monotonic() - began
        os.killpg(scheduler, signal.SIGCONT)
        results = [f.result(timeout=30) for f in futures]  # each ends, when it may
    finally:
        os.killpg(scheduler, signal.SIGCONT)
        executor.close()
    assert not aborting.is_alive() and took < 12, f"abort took {took:.1f}s or more"
    assert [r.status for r in results] == [MemberStatus.ABORTED] * 2


def test_an_image_digest_is_resolved_on_a_worker_offering_the_members_resources(
    dask_cluster: DaskCluster, docker_ready: object
) -> None:
    executor = load_executor("dask", address=dask_cluster.address)
    try:
        digest = executor.resolve(loader("docker", "fits", "true", resources={"neo4j": 1}))
        with pytest.raises(ExecutorError, match="offers resources gpu=1"):
            executor.resolve(loader("docker", "greedy", "true", resources={"gpu": 1}))
    finally:
        executor.close()
    assert digest is not None and digest.startswith("sha256:")


def test_a_killed_workers_container_is_removed_and_its_attempt_aborted(
    small_dask_cluster: DaskCluster, docker_ready: docker.DockerClient, tmp_path: Path
) -> None:
    executor = load_executor("dask", address=small_dask_cluster.address, grace=1.0)
    sink = Collector()
    try:
        name = f"stranded-{uuid.uuid4().hex[:8]}"
        task = make_task(tmp_path, loader("docker", name, "echo up; exec sleep 300"))
        future = executor.submit(task, sink)
        sink.wait_for(1, timeout=60)
        (container,) = docker_ready.containers.list(
            filters={"label": f"orecart.member={name}"})
        guards = _guards(container.labels[LABEL_OWNER])
        assert len(guards) == 1, guards
        (worker,) = small_dask_cluster.worker_pids().values()
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 10  # about 1 s here: the guard's sweep
        while time.monotonic() < deadline and _exists(docker_ready, container.id):
            time.sleep(0.1)
        assert not _exists(docker_ready, container.id), "the lost worker's container lives on"
        assert wait_gone(guards, timeout=5) == [], "the guard outlived its sweep"
        result = future.result(timeout=60)  # the nanny's new worker answers for the task
    finally:
        executor.close()
    assert result.status is MemberStatus.ABORTED
    assert result.error is not None and "worker lost" in result.error


def _guards(owner: str) -> list[int]:
    """The pids of the guard processes of worker identity ``owner``."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if (process.info["cmdline"] or [])[-2:] == ["orecart.executors.daskguard", owner]:
            found.append(process.pid)
    return found


def _exists(client: docker.DockerClient, container_id: str) -> bool:
    try:
        client.api.inspect_container(container_id)
    except docker.errors.NotFound:
        return False
    return True


def test_artifacts_too_big_for_the_reply_event_come_back_with_the_result(
    dask_cluster: DaskCluster, tmp_path: Path
) -> None:
    executor = load_executor("dask", address=dask_cluster.address)
    try:  # 100 kB: past REPLY_EVENT_BYTES, so the client gathers the task's result
        script = 'head -c 100000 /dev/zero | tr "\\0" x > "$ORECART_ARTIFACTS/big"; echo done'
        task = make_task(tmp_path, loader("big", script))
        result = executor.submit(task, Collector()).result(timeout=60)
    finally:
        executor.close()
    assert result.status is MemberStatus.SUCCEEDED, result.error
    assert (task.artifacts / "big").read_text() == "x" * 100000
    assert log_texts(task.log_path, "stdout") == ["done"]
