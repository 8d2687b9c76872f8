"""Callbacks: what a run with a ``callback_url`` tells that URL at each status change.

A delivery is one status change of one run (``queued``, ``running``, then its end), its
JSON body fixed when the change is recorded (``body_of``), signed with HMAC-SHA256 over
the body (``sign``: the key is ``ORECART_CALLBACK_SECRET``) and posted by the service's
deliverer (``orecart.service.callbacks``) with retries and backoff (``CallbackSettings``).
A body holds the run's id, pipeline, status, key, labels, times and member counts: never
its parameters, environment or any secret.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from orecart.errors import UsageError
from orecart.model import Run

#: the header that carries the signature: ``sha256=<hex>``
SIGNATURE_HEADER = "X-Orecart-Signature"
SECRET_ENV = "ORECART_CALLBACK_SECRET"
SCHEMES = frozenset({"http", "https"})


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({DeliveryStatus.DELIVERED, DeliveryStatus.FAILED})


@dataclass(frozen=True)
class Delivery:
    """One status change of one run, for its callback URL, and how posting it went."""

    id: int
    run_id: str
    url: str  # as given: it may carry a token (shown only through ``shown_url``)
    event: str  # the run status it tells of
    body: str  # the JSON posted, as signed
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    last_status: int | None = None  # the HTTP status code of the last attempt
    last_error: str | None = None
    next_at: datetime | None = None
    created_at: datetime | None = None
    delivered_at: datetime | None = None


@dataclass(frozen=True)
class Attempted:
    """How one attempt of a delivery went, and what the delivery is now."""

    status: DeliveryStatus
    code: int | None
    error: str | None
    next_at: datetime | None  # when a still pending one is due again


@dataclass(frozen=True)
class CallbackSettings:
    """How deliveries are posted: ``attempts`` tries each, ``backoff`` seconds before the
    second, doubling up to ``max_backoff``, each post given ``timeout`` seconds. From the
    environment: ``ORECART_CALLBACK_ATTEMPTS``, ``_BACKOFF``, ``_MAX_BACKOFF``,
    ``_TIMEOUT``."""

    attempts: int = 5
    backoff: float = 2.0
    max_backoff: float = 300.0
    timeout: float = 10.0

    @classmethod
    def of(cls, environ: Mapping[str, str]) -> CallbackSettings:
        def number(name: str, default: float) -> float:
            text = environ.get(f"ORECART_CALLBACK_{name}", "")
            try:
                value = float(text) if text else default
            except ValueError as exc:
                raise UsageError(f"ORECART_CALLBACK_{name}: not a number: {text!r}") from exc
            if value < 0:
                raise UsageError(f"ORECART_CALLBACK_{name}: must not be negative: {text!r}")
            return value

        defaults = cls()
        return cls(max(1, int(number("ATTEMPTS", defaults.attempts))),
                   number("BACKOFF", defaults.backoff),
                   number("MAX_BACKOFF", defaults.max_backoff),
                   number("TIMEOUT", defaults.timeout) or defaults.timeout)

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed try."""
        return float(min(self.max_backoff, self.backoff * 2 ** max(0, attempts - 1)))


def check_url(url: str, option: str = "--callback") -> str:
    """``url`` when it is an http or https URL with a host; else a UsageError naming
    ``option``."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise UsageError(f"{option}: not a URL: {exc}") from exc
    if parts.scheme.lower() not in SCHEMES or not host:
        # the URL itself is not shown: it may carry a token
        what = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise UsageError(f"{option}: expected an http:// or https:// URL with a host "
                         f"(got {what}{'' if host else ', no host'})")
    _check_postable(url, option)
    return url


def _check_postable(url: str, option: str) -> None:
    """A UsageError for what the deliverer's HTTP client would refuse to post to (a
    control character, a bad port): the URL is not shown, it may carry a token."""
    import httpx

    try:
        httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise UsageError(f"{option}: not a URL the callback client accepts "
                         f"({type(exc).__name__})") from exc


def sign(body: bytes, secret: str) -> str:
    """The signature header's value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def body_of(run: Run, members: Mapping[str, int]) -> dict[str, Any]:
    """What a delivery tells of ``run`` at its status now; ``members``: member runs
    by status."""
    return {
        "run": {
            "id": run.id,
            "pipeline": run.pipeline,
            "status": str(run.status),
            "key": run.key,
            "labels": dict(run.labels),
            "created_at": _iso(run.queued_at),
            "started_at": _iso(run.started_at),
            "ended_at": _iso(run.finished_at),
        },
        "event": str(run.status),
        "members": dict(sorted(members.items())),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
