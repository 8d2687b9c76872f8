"""The life of runs under ``orecart serve``, end to end: cancel (queued and running),
``kill -9`` of serve and its restart, SIGTERM with a grace period, and a second SIGTERM."""

from __future__ import annotations

import signal
import time

from tests.service.conftest import Serve, Served, held_pipeline, lines, pid_gone, wait_until


class Held:
    """The held pipeline in a folder: who ran, the pids each run's member wrote, its gate."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.count, self.gate = served.folder / "count", served.folder / "gate"
        self.pids_dir = served.folder / "pids"
        self.pids_dir.mkdir()
        served.write(held_pipeline(self.count, self.pids_dir, self.gate))

    def ran(self) -> list[str]:
        return lines(self.count)

    def pids(self, run_id: str) -> list[int]:
        """The member's pids once it has started (waits for them)."""
        path = self.pids_dir / run_id
        wait_until(path.exists, f"run {run_id}'s member to start")
        return [int(p) for p in path.read_text().split()]

    def all_gone(self, pids: list[int]) -> bool:
        return wait_until(lambda: all(pid_gone(p) for p in pids), f"pids {pids} to end")


def test_cancel_of_a_queued_run_ends_it_before_it_starts(served: Served) -> None:
    held = Held(served)
    served.serve("pipeline.yaml")
    first = served.enqueue("first")
    held.pids(first)
    second = served.enqueue("second")
    done = served.ok("cancel", second)
    assert f"run {second}: cancelled" in done.out
    held.gate.touch()
    served.wait_status(first, "succeeded")
    assert served.status_of(second) == "cancelled"
    assert held.ran() == [first]  # the member itself says: the cancelled run never started
    ended = served("cancel", first)
    assert ended.code == 1 and "already ended: succeeded" in ended.out


def test_cancel_of_a_running_run_aborts_its_members_and_ends_their_processes(
        served: Served) -> None:
    held = Held(served)
    serve = served.serve("pipeline.yaml")
    run_id = served.enqueue()
    pids = held.pids(run_id)
    done = served.ok("cancel", run_id)
    assert "cancel asked" in done.out
    run, members = served.wait_status(run_id, "cancelled")
    assert [(m.member, m.status) for m in members] == [("work", "aborted")]
    assert held.all_gone(pids)
    assert serve.process.poll() is None  # serve goes on


def test_kill_9_of_serve_keeps_the_queue_and_aborts_and_requeues_the_running_run(
        served: Served) -> None:
    held = Held(served)
    serve = served.serve("pipeline.yaml")
    running = served.enqueue("one")
    pids = held.pids(running)
    queued = [served.enqueue(k) for k in ("two", "three")]
    serve.signal(signal.SIGKILL)
    serve.wait()
    assert held.all_gone(pids), "a member process survived kill -9 of serve"
    assert [served.status_of(r) for r in queued] == ["queued", "queued"]
    store = served.store()
    try:
        assert store.services() == []  # a dead serve is not listed: submit warns again
    finally:
        store.close()

    held.gate.touch()
    restarted = served.serve("pipeline.yaml", "--requeue", "1")
    for run_id in queued:
        served.wait_status(run_id, "succeeded")
    aborted, _ = served.run(running)
    assert (aborted.status, aborted.error) == ("aborted", "orecart died while it ran")
    again = [r for r in served.runs() if r.key == "one" and r.id != running]
    assert len(again) == 1, served.runs()
    served.wait_status(again[0].id, "succeeded")
    assert "queued again" in restarted.log()
    assert served.enqueue("two") == queued[0]  # a succeeded key never runs twice
    assert sorted(held.ran()) == sorted([running, again[0].id, *queued])


def stopping(serve: Serve) -> None:
    serve.signal(signal.SIGTERM)
    serve.wait_log("stopping:")


def test_sigterm_lets_a_run_finish_within_grace_and_takes_no_new_work(
        served: Served) -> None:
    held = Held(served)
    serve = served.serve("pipeline.yaml", "--grace", "20s")
    running = served.enqueue("running")
    held.pids(running)
    stopping(serve)
    late = served.enqueue("late")  # serve still lives: its run is still going
    assert serve.process.poll() is None
    held.gate.touch()
    assert serve.wait() == 0
    assert served.status_of(running) == "succeeded"
    assert served.status_of(late) == "queued"
    assert held.ran() == [running]


def test_sigterm_aborts_a_run_longer_than_grace_and_leaves_no_process(served: Served) -> None:
    held = Held(served)
    serve = served.serve("pipeline.yaml", "--grace", "1s")
    run_id = served.enqueue()
    pids = held.pids(run_id)
    started = time.monotonic()
    serve.signal(signal.SIGTERM)
    assert serve.wait() == 0
    assert time.monotonic() - started < 10
    run, members = served.run(run_id)
    assert (run.status, [m.status for m in members]) == ("aborted", ["aborted"])
    assert held.all_gone(pids)


def test_a_second_sigterm_aborts_at_once(served: Served) -> None:
    held = Held(served)
    serve = served.serve("pipeline.yaml", "--grace", "60s")
    run_id = served.enqueue()
    pids = held.pids(run_id)
    stopping(serve)
    started = time.monotonic()
    serve.signal(signal.SIGTERM)
    assert serve.wait() == 0
    assert time.monotonic() - started < 10
    assert served.status_of(run_id) == "aborted"
    assert held.all_gone(pids)



def test_cancel_stops_a_run_of_orecart_run_too(served: Served) -> None:
    held = Held(served)
    process = served.start("run", "pipeline.yaml")
    try:
        run_id = wait_until(lambda: next(iter(held.ran()), None), "the run to start")
        pids = held.pids(run_id)
        done = served.ok("cancel", run_id)
        assert "cancel asked" in done.out
        assert process.wait(timeout=15) == 1  # it did not wait for its member to end
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)
    run, members = served.run(run_id)
    assert (run.status, [m.status for m in members]) == ("cancelled", ["aborted"])
    assert held.all_gone(pids)
