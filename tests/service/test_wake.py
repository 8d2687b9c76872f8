"""The UDP poke that wakes a serve loop at once: real sockets on 127.0.0.1."""

from __future__ import annotations

import time

from orecart.service.wake import Waker, poke


def test_a_poke_ends_the_wait_at_once_and_many_pokes_wake_once() -> None:
    waker = Waker()
    try:
        assert waker.wait(0.05) is False
        for _ in range(5):
            poke(waker.address)
        started = time.monotonic()
        assert waker.wait(5.0) is True
        assert time.monotonic() - started < 1.0
        assert waker.wait(0.05) is False  # the five pokes were one wake-up
    finally:
        waker.close()


def test_a_closed_waker_keeps_its_address_and_a_poke_to_nobody_is_harmless() -> None:
    waker = Waker()
    address = waker.address
    waker.close()
    assert waker.address == address  # a signal handler may read it after the loop closed
    poke(address)
    poke("udp://127.0.0.1:notaport")
    poke(None)
