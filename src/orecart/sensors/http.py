"""The http sensor: a conditional GET (``If-None-Match`` with the last ETag,
``If-Modified-Since`` with the last Last-Modified), so an unchanged resource answers 304
and nothing is downloaded; otherwise the body is hashed as it streams in, and a new
content hash is a new version (a changed ETag over the same bytes is the same version).

Cursor: ``{"etag", "last_modified", "sha256"}`` of the last answer. The whole look,
connect to last byte, is bounded by the sensor's timeout: a server that hangs or trickles
is an error of this tick, not a stalled service.
"""

from __future__ import annotations

import hashlib
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from http.client import HTTPException, HTTPResponse
from typing import Any

from orecart.errors import SensorError
from orecart.sensing import HttpWatch, Sensor
from orecart.sensors import Found, Sensed, Where, redact

CHUNK = 1 << 20
NOT_MODIFIED = 304


class HttpWatcher:
    def __init__(self, sensor: Sensor, where: Where) -> None:
        assert isinstance(sensor.watch, HttpWatch)
        self.watch = sensor.watch

    def look(self, cursor: Mapping[str, Any], timeout: float) -> Sensed:
        deadline = time.monotonic() + timeout
        request = urllib.request.Request(self.watch.url, headers=self._headers(cursor))
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return self._answer(response, cursor, deadline)
        except urllib.error.HTTPError as exc:
            if exc.code == NOT_MODIFIED:
                return Sensed((), dict(cursor))
            raise SensorError(f"http {self._shown()}: {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, HTTPException, OSError) as exc:
            why = getattr(exc, "reason", None) or exc
            if isinstance(why, socket.timeout | TimeoutError):
                why = f"no answer within {timeout:g}s"
            raise SensorError(f"http {self._shown()}: {why}") from None

    def _headers(self, cursor: Mapping[str, Any]) -> dict[str, str]:
        headers = dict(self.watch.headers)
        if cursor.get("etag"):
            headers["If-None-Match"] = cursor["etag"]
        if cursor.get("last_modified"):
            headers["If-Modified-Since"] = cursor["last_modified"]
        return headers

    def _answer(self, response: HTTPResponse, cursor: Mapping[str, Any],
                deadline: float) -> Sensed:
        digest = _hash(response, deadline, self._shown())
        now = {"etag": response.headers.get("ETag") or "",
               "last_modified": response.headers.get("Last-Modified") or "",
               "sha256": digest}
        if digest == cursor.get("sha256"):
            return Sensed((), now)
        extra = {"url": redact(self.watch.url), "etag": now["etag"],
                 "last_modified": now["last_modified"], "sha256": digest}
        return Sensed((Found(f"sha256:{digest}", self.watch.url, digest, extra=extra),), now)

    def _shown(self) -> str:
        return redact(self.watch.url)


def _hash(response: HTTPResponse, deadline: float, shown: str) -> str:
    """The body's sha256, read in chunks (a big file never sits in memory whole)."""
    digest = hashlib.sha256()
    while chunk := response.read1(CHUNK):
        digest.update(chunk)
        if time.monotonic() > deadline:
            raise SensorError(f"http {shown}: the body did not arrive in time")
    return digest.hexdigest()
