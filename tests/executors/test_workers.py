"""The local executor's threads: reused while calls follow each other, never a call queued
behind a busy one, none left once idle."""

from __future__ import annotations

import threading
import time

from orecart.executors.workers import Workers


def test_calls_that_follow_each_other_reuse_a_thread() -> None:
    workers = Workers("test-reuse", idle=5.0)
    threads: list[threading.Thread] = []  # held, so no two share an id()
    for _ in range(20):
        done = threading.Event()
        workers.run(lambda done=done: (threads.append(threading.current_thread()), done.set()))
        assert done.wait(5)
        time.sleep(0.001)  # the thread gets back to waiting for the next call
    workers.close()
    assert len(threads) == 20 and len({id(t) for t in threads}) <= 2


def test_a_call_never_waits_for_a_busy_thread() -> None:
    """The first call holds its thread until the second has run: queued behind it, the
    second would never run."""
    workers = Workers("test-busy", idle=5.0)
    second_ran = threading.Event()
    first_done = threading.Event()

    def first() -> None:
        second_ran.wait(5)
        first_done.set()

    workers.run(first)
    workers.run(second_ran.set)
    assert second_ran.wait(5) and first_done.wait(5)
    workers.close()


def test_idle_threads_exit() -> None:
    workers = Workers("test-idle", idle=0.1)
    for _ in range(3):
        workers.run(lambda: time.sleep(0.05))  # three at once: three threads
    assert len([t for t in threading.enumerate() if t.name == "test-idle"]) == 3
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        left = [t for t in threading.enumerate() if t.name == "test-idle"]
        if not left:
            break
        time.sleep(0.01)
    assert left == []
