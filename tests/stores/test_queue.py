"""The queue in the state store, on every backend: FIFO order, one run per run key (also
when processes race to submit it), claim against cancel, and queued runs that survive the
death of every process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orecart.errors import NotFoundError
from orecart.model import Run, RunStatus
from orecart.stores import Holder, open_store
from orecart.stores.queue import CANCELLED_BEFORE_START
from orecart.stores.sql import SqlStore
from tests.stores.test_contract import HOST, dead_pid, make_run

ROOT = Path(__file__).resolve().parents[2]


def request(run_id: str, pipeline: str = "gfe", key: str | None = None, **changes: object) -> Run:
    return Run(run_id, pipeline, RunStatus.QUEUED, key=key, **changes)  # type: ignore[arg-type]


def holder(run_id: str) -> Holder:
    return Holder(run_id, os.getpid(), HOST)


def test_a_queued_run_keeps_its_request_fields_and_payload(store: SqlStore) -> None:
    asked = request("r-1", key="3.52.0", origin="cli", labels={"team": "hla"})
    run, queued = store.enqueue(asked, {"file": "/p.yaml", "params": {"release": "3.52.0"}})
    assert queued and run.queued_at is not None and run.queued_at.tzinfo == UTC
    found = store.get_run("r-1")
    assert found == run and found.status is RunStatus.QUEUED
    assert (found.key, found.origin, found.labels) == ("3.52.0", "cli", {"team": "hla"})
    assert store.payload("r-1") == {"file": "/p.yaml", "params": {"release": "3.52.0"}}
    with pytest.raises(NotFoundError):
        store.payload("r-none")
    with pytest.raises(ValueError, match="queued"):
        store.enqueue(make_run("r-2"), {})


def test_queued_runs_come_first_asked_first_per_pipeline(store: SqlStore) -> None:
    for index, pipeline in enumerate(["a", "b", "a", "b", "a"]):
        store.enqueue(request(f"r-{9 - index}", pipeline), {"n": index})  # ids sort backwards
    assert [run.id for run in store.queued()] == ["r-9", "r-8", "r-7", "r-6", "r-5"]
    assert [run.id for run in store.queued("a")] == ["r-9", "r-7", "r-5"]
    assert [run.id for run in store.queued("b", limit=1)] == ["r-8"]
    assert store.claim("r-9", holder("r-9")) is not None
    assert [run.id for run in store.queued("a")] == ["r-7", "r-5"]


def test_the_queue_heads_are_the_oldest_queued_run_of_each_pipeline(store: SqlStore) -> None:
    assert store.queue_heads() == []
    for index, pipeline in enumerate(["a", "b", "a", "c", "b"]):
        store.enqueue(request(f"r-{9 - index}", pipeline), {"n": index})
    assert [run.id for run in store.queue_heads()] == ["r-9", "r-8", "r-6"]
    assert store.claim("r-9", holder("r-9")) is not None
    store.request_cancel("r-8")
    assert [run.id for run in store.queue_heads()] == ["r-7", "r-6", "r-5"]
    assert store.queue_heads() == [store.get_run(i) for i in ("r-7", "r-6", "r-5")]


def test_a_held_key_is_not_queued_again_and_a_failed_one_is(store: SqlStore) -> None:
    first, queued = store.enqueue(request("r-1", key="k"), {})
    assert queued
    again, queued = store.enqueue(request("r-2", key="k"), {})
    assert not queued and again.id == "r-1"  # queued: the existing run is returned
    assert store.claim("r-1", holder("r-1")) is not None
    assert store.enqueue(request("r-3", key="k"), {})[0].id == "r-1"  # running
    assert store.enqueue(request("r-4", key="other"), {})[1]  # another key: its own run
    assert store.enqueue(request("r-5", "another-pipeline", key="k"), {})[1]
    for status, queued_again in [(RunStatus.SUCCEEDED, False), (RunStatus.FAILED, True)]:
        store.save_run(Run("r-1", "gfe", status, host=HOST, pid=os.getpid()))
        run, queued = store.enqueue(request(f"r-{status}", key="k"), {})
        assert queued is queued_again, status
    assert store.run_for_key("gfe", "k") == store.get_run("r-failed")
    store.request_cancel("r-failed")
    assert store.enqueue(request("r-after-cancel", key="k"), {})[1]  # cancelled: again
    assert store.run_for_key("gfe", "nothing") is None


def test_a_key_whose_run_died_is_queued_again(store: SqlStore) -> None:
    store.enqueue(request("r-1", key="k"), {})
    store.save_run(
        Run("r-1", "gfe", RunStatus.RUNNING, host=HOST, pid=dead_pid(),
            started_at=datetime.now(UTC))
    )
    assert store.run_for_key("gfe", "k").status is RunStatus.ABORTED  # type: ignore[union-attr]
    assert store.enqueue(request("r-2", key="k"), {})[1]


def test_the_runners_record_keeps_the_queue_fields(store: SqlStore) -> None:
    store.enqueue(request("r-1", key="k", origin="schedule", labels={"tick": "t"}), {})
    store.claim("r-1", holder("r-1"))
    store.request_cancel("r-1")
    # the runner's own record knows none of it, and must not wipe it
    store.save_run(Run("r-1", "gfe", RunStatus.CANCELLED, host=HOST, pid=os.getpid()))
    run = store.get_run("r-1")
    assert (run.key, run.origin, run.labels) == ("k", "schedule", {"tick": "t"})
    assert run.queued_at is not None and run.cancel_requested_at is not None


def test_claim_takes_a_queued_run_once(store: SqlStore) -> None:
    store.enqueue(request("r-1"), {})
    claimed = store.claim("r-1", Holder("r-1", 4242, "worker-host"))
    assert claimed is not None and claimed.status is RunStatus.RUNNING
    assert (claimed.host, claimed.pid) == ("worker-host", 4242)
    assert store.claim("r-1", holder("r-1")) is None
    assert store.claim("r-unknown", holder("r-unknown")) is None


def test_cancel_ends_a_queued_run_marks_a_running_one_and_leaves_a_finished_one(
    store: SqlStore,
) -> None:
    for run_id in ("q-1", "q-2"):
        store.enqueue(request(run_id), {})
    store.claim("q-2", holder("q-2"))
    cancelled = store.request_cancel("q-1")
    assert cancelled.status is RunStatus.CANCELLED and cancelled.finished_at is not None
    assert cancelled.error == CANCELLED_BEFORE_START
    assert store.claim("q-1", holder("q-1")) is None  # a cancelled run never starts
    assert store.cancel_requested(["q-1", "q-2", "nope"]) == {"q-1"}
    running = store.request_cancel("q-2")
    assert running.status is RunStatus.RUNNING and running.cancel_requested_at is not None
    assert store.request_cancel("q-2").cancel_requested_at == running.cancel_requested_at
    assert store.cancel_requested(["q-1", "q-2"]) == {"q-1", "q-2"}
    store.save_run(make_run("done"))
    assert store.request_cancel("do") == store.get_run("done")  # a prefix, unchanged
    with pytest.raises(NotFoundError):
        store.request_cancel("nothing")
    assert store.cancel_requested([]) == set()


def test_claim_and_cancel_racing_leave_exactly_one_winner(store_url: str) -> None:
    stores = [open_store(store_url), open_store(store_url)]
    try:
        for index in range(8):
            stores[0].enqueue(request(f"r-{index}"), {})
        for index in range(8):
            barrier = threading.Barrier(2)
            run_id = f"r-{index}"

            def claim(run_id: str = run_id, barrier: threading.Barrier = barrier) -> bool:
                barrier.wait()
                return stores[0].claim(run_id, holder(run_id)) is not None

            def cancel(run_id: str = run_id, barrier: threading.Barrier = barrier) -> Run:
                barrier.wait()
                return stores[1].request_cancel(run_id)

            with ThreadPoolExecutor(2) as pool:
                claimed, cancelled = pool.submit(claim), pool.submit(cancel)
                won = claimed.result()
                seen = cancelled.result()
            final = stores[0].get_run(run_id)
            if won:  # claimed first: the cancel became a request to the runner
                assert final.status is RunStatus.RUNNING and final.cancel_requested_at
            else:
                assert final.status is RunStatus.CANCELLED
            assert seen.status is final.status
    finally:
        for store in stores:
            store.close()


RACER = """
import json, os, sys, threading, time
from orecart.model import Run, RunStatus
from orecart.stores import open_store
url, start, name = sys.argv[1], float(sys.argv[2]), sys.argv[3]
store = open_store(url)
found = []
def submit(index):
    time.sleep(max(0.0, start - time.time()))
    run, queued = store.enqueue(
        Run(f"{name}-{index}", "gfe", RunStatus.QUEUED, key="3.52.0"), {"who": name})
    found.append([run.id, queued])
threads = [threading.Thread(target=submit, args=(i,)) for i in range(4)]
for thread in threads: thread.start()
for thread in threads: thread.join()
store.close()
print(json.dumps(found))
"""


def test_submits_of_one_key_racing_from_processes_give_one_run(store_url: str) -> None:
    open_store(store_url).close()  # the schema exists before the race
    start = time.time() + 2.0  # every thread of both processes submits at this moment
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, store_url, str(start), name],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for name in ("p1", "p2")
    ]
    answers = []
    for racer in racers:
        out, err = racer.communicate(timeout=60)
        assert racer.returncode == 0, err
        answers += json.loads(out)
    assert len(answers) == 8
    winners = [run_id for run_id, queued in answers if queued]
    assert len(winners) == 1, answers
    assert {run_id for run_id, _ in answers} == set(winners)  # every submit got that run
    store = open_store(store_url)
    try:
        assert [run.id for run in store.queued()] == winners
    finally:
        store.close()


def test_recover_never_touches_queued_runs(store: SqlStore) -> None:
    pid = dead_pid()
    # a queued run, even one naming a dead process (an orecart before the queue made these)
    store.enqueue(request("queued", host=HOST, pid=pid), {"n": 1})
    store.enqueue(request("claimed"), {"n": 2})
    store.claim("claimed", Holder("claimed", pid, HOST))
    aborted = store.recover(HOST)
    assert [run.id for run in aborted] == ["claimed"]
    assert store.get_run("claimed").status is RunStatus.ABORTED
    assert store.get_run("queued").status is RunStatus.QUEUED
    assert [run.id for run in store.queued()] == ["queued"]
    assert store.payload("claimed") == {"n": 2}  # kept, so the service can queue it again


def test_a_read_only_store_never_reads_a_queued_run_as_aborted(store_url: str) -> None:
    writer = open_store(store_url)
    writer.enqueue(request("queued", host=HOST, pid=dead_pid()), {})
    writer.close()
    reader = open_store(store_url, read_only=True)
    try:
        assert reader.get_run("queued").status is RunStatus.QUEUED
        assert [run.id for run in reader.queued()] == ["queued"]
    finally:
        reader.close()
