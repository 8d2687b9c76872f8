"""Keeps the locks, leases and service rows a store took from expiring while their holders
live.

One daemon thread per store, running only while the store holds something: every
``interval`` seconds it renews every row still held, in one write transaction. A row is
renewed only while the thread that took it is alive, so a run that ended inside a live
process without giving its rows back (its thread gone) stops being renewed and expires,
as do the rows of a process that hangs or died on another host. A row found taken by
another holder (its ttl passed while this process could not reach the store) is told to
the ``lost`` callback, which stops the run that held it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from orecart.errors import StateError
from orecart.stores.locks import Key


class Heartbeat:
    """Renews held rows. Call outline: ``hold(key)`` when a row is taken (the beats start)
    -> ``drop(key)`` when it is given back (they stop with the last) -> ``stop()``."""

    def __init__(self, beat: Callable[[Sequence[Key]], Sequence[Key]], interval: float,
                 lost: Callable[[Key], None] | None = None) -> None:
        """``beat`` renews the keys and returns those it found taken by another holder;
        each is dropped and told to ``lost``."""
        self._beat, self._interval, self._lost = beat, interval, lost
        self._held: dict[Key, threading.Thread] = {}
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    def hold(self, key: Key, owner: threading.Thread | None = None) -> None:
        """Renew ``key`` while ``owner`` (default: the calling thread) lives."""
        with self._guard:
            self._held[key] = owner or threading.current_thread()
            if self._thread is None and not self._stopped.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="orecart-heartbeat", daemon=True
                )
                self._thread.start()

    def drop(self, key: Key) -> None:
        with self._guard:
            self._held.pop(key, None)

    def held(self) -> list[Key]:
        """The keys renewed now (their holders' threads alive)."""
        with self._guard:
            self._held = {key: t for key, t in self._held.items() if t.is_alive()}
            return list(self._held)

    def stop(self) -> None:
        """No more beats; what is held expires after its ttl unless given back."""
        self._stopped.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            keys = self.held()
            with self._guard:
                if not self._held:
                    self._thread = None
                    return
            try:
                taken = self._beat(keys)
            except StateError:  # a busy or unreachable store: the next beat tries again
                continue
            for key in taken:
                self._taken(key)

    def _taken(self, key: Key) -> None:
        """``key`` was not renewed: lost, unless given back meanwhile (``drop`` comes
        before the row's delete, so a row given back during the beat is not held now)."""
        with self._guard:
            if self._held.pop(key, None) is None:
                return
        if self._lost is not None:
            self._lost(key)
