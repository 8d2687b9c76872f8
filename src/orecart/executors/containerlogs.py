"""Container output into the member-run log: live, and complete even when dockerd ends a
follow stream early (it then reads the rest from the stored log, deduplicated by timestamp)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from datetime import datetime

import docker
import docker.errors

from orecart.executors import OutputSink
from orecart.executors.images import FOREIGN
from orecart.executors.logfile import LineSplitter, LogWriter


class SharedLog:
    """The member-run log shared by the member's and its sidecars' log followers.

    ``LogWriter`` is not thread-safe and several followers write at once, so every write
    (and the hand-over to the output sink, to keep both in the same order) holds one lock.
    Lines that arrive after ``close`` (a follower given up on) are dropped.
    """

    def __init__(self, writer: LogWriter, output: OutputSink, member: str) -> None:
        self._writer, self._output, self._member = writer, output, member
        self._lock = threading.Lock()
        self._closed = False

    def lines(self, stream: str, lines: Iterable[str], prefix: str = "") -> None:
        texts = [prefix + line for line in lines]
        if not texts:
            return
        with self._lock:
            if self._closed:
                return
            for clean in self._writer.write_lines(stream, texts):
                self._output(self._member, clean)

    def splitter(self) -> LineSplitter:
        return self._writer.splitter()

    def note(self, text: str) -> None:
        with self._lock:
            if not self._closed:
                self._writer.note(text)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._writer.close()


#: A daemon log timestamp: RFC 3339 with up to nine fractional digits (dockerd: always nine).
_STAMP = re.compile(rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)")
_BATCH = 1000  # lines per hand-over when reading a stored log (not live)
_PAUSE = 0.2  # seconds between follow streams the daemon ends at once
_FOLLOW_LIMIT = 120.0  # seconds settle() waits on a stream of a container still running


def _instant(stamp: bytes) -> int | None:
    """Nanoseconds since the epoch of a daemon log timestamp; None when it is not one."""
    found = _STAMP.fullmatch(stamp)
    if found is None:
        return None
    whole, fraction, zone = found.groups()
    seconds = int(datetime.fromisoformat((whole + zone).decode()).timestamp())
    return seconds * 1_000_000_000 + int((fraction or b"0").ljust(9, b"0"))


class LogFollower(threading.Thread):
    """Follows one stream (stdout or stderr) of one container into the shared log.

    A follow stream may end before it delivered everything: dockerd 20.10 closes it when
    the container stops, drained or not, and a reader that fell behind under load loses
    the rest. So entries are read with their daemon timestamps, and when a stream ends
    the stored log is read again from the last timestamp delivered, skipping the entries
    at that timestamp already delivered: following again while the container runs, once
    more without following after it stopped (its log is complete then). ``settle`` waits
    for that end.
    """

    def __init__(
        self,
        client: docker.DockerClient,
        container_id: str,
        stream: str,
        log: SharedLog,
        prefix: str = "",
    ) -> None:
        super().__init__(name=f"orecart-logs-{container_id[:12]}-{stream}", daemon=True)
        self._client, self._id, self._stream = client, container_id, stream
        self._log, self._prefix = log, prefix
        self._splitter = log.splitter()
        self._last: int | None = None  # timestamp of the last entry delivered
        self._at_last = 0  # entries delivered with exactly that timestamp
        self._stamped = True  # False when the daemon sends no timestamps: no re-reading
        self.delivered = 0  # entries delivered so far; settle() watches it
        self.draining = False  # the container has stopped: the last, finite read is on
        self._nudge = threading.Event()  # set by settle(): the container has stopped

    def run(self) -> None:
        try:
            while True:
                running = self._running()
                self.draining = not running
                fresh = self._read(follow=running)
                if not running or not self._stamped:
                    break
                if not fresh:  # the daemon ended the stream at once, or at the exit
                    self._nudge.wait(_PAUSE)  # settle() cuts the pause short
                    self._nudge.clear()
        except FOREIGN:
            pass  # the container is gone (removed on abort): nothing more to read
        finally:
            self._log.lines(self._stream, self._splitter.finish(), self._prefix)

    def settle(self, grace: float) -> None:
        """Wait for the follower to end, as long as entries keep arriving.

        The log of a stopped container is drained however long it is. A stream silent for
        ``grace`` seconds is left, and so, after ``_FOLLOW_LIMIT``, is a stream that still
        follows (a container that outlived its stop): it would never end.
        """
        self._nudge.set()  # the container stopped: no pause before the last read
        limit = time.monotonic() + _FOLLOW_LIMIT
        while self.is_alive():
            before = self.delivered
            self.join(grace)
            if self.delivered == before or (not self.draining and time.monotonic() > limit):
                return

    def _running(self) -> bool:
        return bool(self._client.api.inspect_container(self._id)["State"].get("Running"))

    def _read(self, follow: bool) -> int:
        """Deliver the log's entries past the ones delivered; how many there were."""
        since = None if self._last is None else (self._last - 1_000_000) / 1e9  # 1 ms early
        last, skip = self._last, self._at_last
        fresh, pending = 0, list[str]()
        frames = self._client.api.logs(
            self._id, stream=True, follow=follow, timestamps=True, since=since, **self._which
        )
        try:
            for frame in frames:
                stamp, _, payload = frame.partition(b" ")
                at = _instant(stamp)
                if at is None:  # no timestamp after all: take the frame as it is
                    self._stamped, payload = False, frame
                elif last is not None:  # catching up: skip what was delivered before
                    if at < last:
                        continue
                    if at == last and skip > 0:
                        skip -= 1
                        continue
                    last = None
                self._mark(at)
                fresh += 1
                pending += self._splitter.feed(payload)
                if follow or len(pending) >= _BATCH:
                    self._log.lines(self._stream, pending, self._prefix)
                    pending = []
        finally:
            self._log.lines(self._stream, pending, self._prefix)
        return fresh

    def _mark(self, at: int | None) -> None:
        if at is not None and at == self._last:
            self._at_last += 1
        elif at is not None:
            self._last, self._at_last = at, 1
        self.delivered += 1

    @property
    def _which(self) -> dict[str, bool]:
        return {"stdout": self._stream == "stdout", "stderr": self._stream == "stderr"}


def follow(
    client: docker.DockerClient, container_id: str, log: SharedLog, prefix: str = ""
) -> list[LogFollower]:
    """Start following a container's stdout and stderr; ``settle`` them to wait for the end."""
    followers = [LogFollower(client, container_id, s, log, prefix) for s in ("stdout", "stderr")]
    for follower in followers:
        follower.start()
    return followers
