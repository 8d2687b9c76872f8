"""Waking a serve process at once: it listens on a UDP port of 127.0.0.1 (its address in the
store's ``services`` table), and a client that queued or cancelled a run sends it a
datagram. A lost datagram costs nothing but latency: serve reads the store every poll
anyway; the store, never the datagram, says what to do."""

from __future__ import annotations

import select
import socket

SCHEME = "udp://"


class Waker:
    """The serve side: a bound socket whose datagrams end a ``wait`` early."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind((host, 0))
        self._socket.setblocking(False)
        host, port = self._socket.getsockname()[:2]
        self.address = f"{SCHEME}{host}:{port}"  # kept: still known once closed

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a datagram; True when one (or more) came."""
        ready, _, _ = select.select([self._socket], [], [], max(0.0, timeout))
        if not ready:
            return False
        while True:  # one wake-up for however many came
            try:
                self._socket.recv(64)
            except BlockingIOError:
                return True

    def wake(self) -> None:
        """End a ``wait`` from this process (any thread): a datagram to itself."""
        try:
            self._socket.sendto(b"w", self._socket.getsockname())
        except OSError:
            pass  # a full buffer already holds a wake-up; a closed socket waits no more

    def close(self) -> None:
        self._socket.close()


def poke(address: str | None) -> None:
    """Wake the serve process at ``address`` (a no-op for one it cannot reach)."""
    if not address or not address.startswith(SCHEME):
        return
    host, _, port = address[len(SCHEME):].rpartition(":")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"w", (host, int(port)))
    except (OSError, ValueError):
        pass
