"""The deliverer: a daemon thread of the service that posts due callback deliveries.

    start()  -> the thread: take the due deliveries (the first pending one of each run),
                post each (signed when ``ORECART_CALLBACK_SECRET`` is set), record the
                attempt: 2xx delivered; else pending again after a backoff, failed once
                ``CallbackSettings.attempts`` are spent
    wake()   -> look now (a status change was recorded here)
    drain()  -> wait, bounded, until the deliveries of some runs are over (``orecart run``)
    stop()   -> end the thread; what is pending stays pending for the next service

Deliveries live in the state store, so a delivery not made when a process ends is made by
the next ``serve`` on that store. A post's error is recorded with the URL hidden; the
secret and signatures are never logged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from orecart.callbacks import (
    SECRET_ENV,
    SIGNATURE_HEADER,
    Attempted,
    CallbackSettings,
    Delivery,
    DeliveryStatus,
    sign,
)
from orecart.errors import StateError
from orecart.secrets import hide_url

if TYPE_CHECKING:  # httpx loads when the thread starts: a run without callbacks skips it
    import httpx
from orecart.stores import CallbackLog

#: the longest pause between looks for due deliveries
POLL_S = 0.5
#: a post's hold on its delivery beyond its timeout (another deliverer waits that long)
HOLD_MARGIN_S = 5.0


class Deliverer:
    def __init__(self, store: CallbackLog, settings: CallbackSettings, secret: str | None,
                 notice: Callable[[str], None] | None = None) -> None:
        self.store, self.settings = store, settings
        self.secret = secret or None
        self.notice = notice
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: httpx.Client | None = None
        self._told_unsigned = False

    def start(self) -> None:
        """Start the thread. Its HTTP client is built here, in the caller's thread, so
        that what it imports lazily (TLS, certificates) is imported before a run starts
        (``hookfiles`` reads ``sys.modules`` while a run loads its hooks)."""
        if self._thread is None:
            import httpx

            self._client = httpx.Client(timeout=phase_timeout(self.settings.timeout),
                                        headers={"User-Agent": "orecart"})
            self._thread = threading.Thread(target=self._loop, daemon=True,
                                            name="orecart-callbacks")
            self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.timeout + 1)
        if self._client is not None and not (self._thread and self._thread.is_alive()):
            self._client.close()

    def drain(self, run_ids: Sequence[str], timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every delivery of ``run_ids`` to be over;
        True when they are."""
        deadline = time.monotonic() + timeout
        while True:
            pending = [d for run_id in run_ids for d in self.store.deliveries(run_id)
                       if not d.status.terminal]
            if not pending or time.monotonic() >= deadline:
                return not pending
            self.wake()
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def _loop(self) -> None:
        pause = min(POLL_S, max(0.02, self.settings.backoff))
        while not self._stop.is_set():
            try:
                posted = self.deliver_due()
            except StateError:
                posted = 0  # a busy or gone store: look again at the next pause
            except Exception as exc:  # noqa: BLE001 - the thread must outlive any bug
                posted = 0
                self._tell(f"callbacks: internal error {type(exc).__name__} (retrying)")
            if not posted:
                self._wake.wait(pause)
                self._wake.clear()

    def deliver_due(self) -> int:
        """Post every due delivery once; how many were posted."""
        posted = 0
        for delivery in self.store.due_deliveries():
            if self._stop.is_set():
                break
            if self.store.take_delivery(delivery, self.settings.timeout + HOLD_MARGIN_S):
                self.store.delivery_attempted(delivery, self._post(delivery))
                posted += 1
        return posted

    def _post(self, delivery: Delivery) -> Attempted:
        body = delivery.body.encode()
        headers = {"Content-Type": "application/json"}
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = sign(body, self.secret)
        else:
            self._tell_unsigned()
        assert self._client is not None, "deliveries are posted by the started thread"
        try:  # streamed: only the status is read, never a body that may trickle in
            with self._client.stream("POST", delivery.url, content=body,
                                     headers=headers) as answer:
                code = answer.status_code
        except Exception as exc:  # noqa: BLE001 - any error (InvalidURL, idna) is an attempt
            error = f"{type(exc).__name__}: {exc}".replace(delivery.url,
                                                          hide_url(delivery.url))
            return self._failed(delivery, None, error)
        if 200 <= code < 300:
            return Attempted(DeliveryStatus.DELIVERED, code, None, None)
        return self._failed(delivery, code, f"HTTP {code}")

    def _failed(self, delivery: Delivery, code: int | None, error: str) -> Attempted:
        attempts = delivery.attempts + 1
        if attempts >= self.settings.attempts:
            return Attempted(DeliveryStatus.FAILED, code, error, None)
        again = datetime.now(UTC) + timedelta(seconds=self.settings.delay(attempts))
        return Attempted(DeliveryStatus.PENDING, code, error, again)

    def _tell_unsigned(self) -> None:
        if not self._told_unsigned:
            self._tell(f"callbacks are sent unsigned: {SECRET_ENV} is not set")
        self._told_unsigned = True

    def _tell(self, text: str) -> None:
        if self.notice is not None:
            self.notice(text)


def phase_timeout(total: float) -> httpx.Timeout:
    """httpx's timeouts are per phase (pool, connect, write, read): a third of ``total``
    each (one client per thread: no pool wait), so a post ends within about ``total``
    seconds, well inside its hold (``total + HOLD_MARGIN_S``)."""
    import httpx

    return httpx.Timeout(total / 3)
