"""Threads that run an executor's attempts, each reused for the next one.

Starting a thread costs the caller (the runner's own thread) about 0.3 ms, a good part of
what a trivial member costs; members that come in quick succession take a thread another
one just left instead. The pool never queues a call behind a busy thread (a member must
not wait for one while another runs for hours): with no idle thread, a new one starts,
so there are as many threads as attempts run at once. An idle thread exits after
``IDLE_S`` seconds, so threads are only kept while attempts follow each other quickly,
and none are left once work stops.

Call outline: ``Workers.run(call)`` -> an idle thread takes it (``_next``), else a new
thread starts (``_serve``); ``close`` lets the idle ones exit now.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

#: How long an idle thread waits for the next call before it exits.
IDLE_S = 1.0


class Workers:
    """A pool of daemon threads named ``name`` that grows to what runs at once."""

    def __init__(self, name: str, idle: float = IDLE_S) -> None:
        self.name = name
        self.idle = idle
        self._cond = threading.Condition()
        self._calls: deque[Callable[[], None]] = deque()
        self._waiting = 0  # idle threads, each about to take one queued call
        self._closed = False

    def run(self, call: Callable[[], None]) -> None:
        """Run ``call`` in a thread of the pool at once. Raises RuntimeError when no
        thread can be started (the call then does not run)."""
        with self._cond:
            if self._waiting > len(self._calls):
                self._calls.append(call)
                self._cond.notify()
                return
        threading.Thread(target=self._serve, args=(call,), name=self.name, daemon=True).start()

    def close(self) -> None:
        """Let idle threads exit now; calls still running finish in their threads."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _serve(self, call: Callable[[], None] | None) -> None:
        while call is not None:
            call()  # calls complete their own futures: one that raises is a bug
            call = self._next()

    def _next(self) -> Callable[[], None] | None:
        """The next queued call, or None once idle for ``idle`` seconds (or closed)."""
        with self._cond:
            self._waiting += 1
            try:
                deadline = time.monotonic() + self.idle
                while not self._calls:
                    left = deadline - time.monotonic()
                    if left <= 0 or self._closed:
                        return None
                    self._cond.wait(left)
                return self._calls.popleft()
            finally:
                self._waiting -= 1
