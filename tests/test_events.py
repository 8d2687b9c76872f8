"""Event delivery: the recorder in step, every other sink isolated on its own thread.

A sink that sleeps or raises can neither stall the run nor end it; it loses only its own
events, and the notes say what happened."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from orecart.events import (
    Delivery,
    Event,
    Fanout,
    MemberOutput,
    Planned,
    RunFinished,
    RunStarted,
)
from orecart.model import Pipeline, Run, RunStatus
from orecart.planner import plan
from orecart.recorder import Recorder
from orecart.runner import Backends, RunConfig, Runner
from orecart.stores import open_store
from tests.runner.test_runner_logic import Events, MemoryLocks, ScriptedExecutor, m, ok


class SleepySink:
    """Takes ``seconds`` over every event (a notifier on a slow server, a wedged hook)."""

    name = "sleepy"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.seen: list[Event] = []

    def emit(self, event: Event) -> None:
        time.sleep(self.seconds)
        self.seen.append(event)


class RaisingSink:
    """Raises on every event (a hook's bug)."""

    def emit(self, event: Event) -> None:
        raise RuntimeError(f"sink bug on {type(event).__name__}")


def test_a_slow_and_a_raising_sink_neither_stall_nor_kill_the_run(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    pipeline = Pipeline("iso", tmp_path / "p.yaml", (m("a"), m("b", "a"), m("c", "b")))
    sleepy, events = SleepySink(1.0), Events()
    fanout = Fanout(Recorder(store), isolated=[sleepy, RaisingSink(), events])
    runner = Runner(
        plan(pipeline),
        Run("run1", "iso", RunStatus.QUEUED),
        Backends({"run": ScriptedExecutor(ok(0.02))}, MemoryLocks(), fanout),
        RunConfig(runs_dir=tmp_path / "runs", poll=0.01),
    )
    began = time.monotonic()
    run = runner.run()
    took = time.monotonic() - began
    notes = fanout.close(timeout=0.5)
    try:
        assert run.status is RunStatus.SUCCEEDED
        assert took < 0.8  # the sleepy sink alone would take 1 s per event
        assert run.finished_at and run.started_at
        assert (run.finished_at - run.started_at).total_seconds() < 0.8
        assert store.get_run("run1").status is RunStatus.SUCCEEDED  # the recorder, in step
        # the quick sink saw the whole story, in order
        assert isinstance(events.items[0], Planned)
        assert isinstance(events.items[1], RunStarted)
        assert isinstance(events.items[-1], RunFinished)
        assert list(events.finished()) == ["a", "b", "c"]
        assert len(sleepy.seen) < len(events.items)
        raising = [n for n in notes if n.startswith("event sink RaisingSink:")]
        assert raising and "failed" in raising[0] and "sink bug on Planned" in raising[0]
        assert any(n.startswith("event sink sleepy: still busy") for n in notes), notes
    finally:
        store.close()


class GatedSink:
    """Blocks on its first event until released: a sink that fell behind."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.seen: list[Event] = []

    def emit(self, event: Event) -> None:
        self.gate.wait(10)
        self.seen.append(event)


def test_output_past_the_backlog_is_dropped_and_counted_but_lifecycle_events_never() -> None:
    sink = GatedSink()
    delivery = Delivery(sink, backlog=5)
    run = Run("r", "p", RunStatus.RUNNING)
    delivery.put(RunStarted(run))
    for i in range(20):
        delivery.put(MemberOutput("r", "a", f"line {i}"))  # returns at once, never waits
    delivery.put(RunFinished(run))
    sink.gate.set()
    delivery.stop()
    notes = delivery.join(time.monotonic() + 5)
    lines = [e.line for e in sink.seen if isinstance(e, MemberOutput)]
    assert isinstance(sink.seen[0], RunStarted) and isinstance(sink.seen[-1], RunFinished)
    assert len(lines) <= 6 and lines == sorted(lines, key=lambda s: int(s.split()[1]))
    dropped = 20 - len(lines)
    assert notes == [f"event sink GatedSink: fell behind, {dropped} output line(s) dropped"]


def test_an_in_step_sink_that_raises_still_raises_after_every_sink_had_the_event() -> None:
    events = Events()
    fanout = Fanout(RaisingSink(), isolated=[events])
    run = Run("r", "p", RunStatus.RUNNING)
    try:
        fanout.emit(RunStarted(run))
    except RuntimeError as exc:
        assert "sink bug" in str(exc)
    else:
        raise AssertionError("the in-step sink's error was swallowed")
    assert fanout.close(timeout=5) == []
    assert [type(e) for e in events.items] == [RunStarted]
