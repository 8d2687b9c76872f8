"""The model of sensors: what a pipeline's ``sensors:`` declares (a watched git remote,
URL or file glob), a sensor's persisted state (its cursor, last tick, last error) and
the source versions it saw (gfe-db's execution state table).

Plain frozen dataclasses and enums, beside ``orecart.model`` (which holds a pipeline's
``sensors``); the watchers live in ``orecart.sensors``, the tables in ``orecart.stores``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

#: The run key prefix of a sensor's requests: ``sensor:<sensor>:<version id>``.
KEY_PREFIX = "sensor"
#: What every sensor's run request carries in its params (empty where it does not apply).
PARAMS = ("sensor", "commit", "ref", "tag", "version")


@dataclass(frozen=True)
class GitWatch:
    """A git remote (any URL git understands): the refs matching ``refs`` (a glob such as
    ``refs/tags/v*``), or the commits of ``branch``. Exactly one of the two is set."""

    remote: str
    refs: str | None = None
    branch: str | None = None


@dataclass(frozen=True)
class HttpWatch:
    """A URL: a new version when its content changes (ETag and Last-Modified make the
    check a conditional request; the content hash decides)."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FileWatch:
    """A glob of files (relative to the pipeline file's folder): a new version when a file
    appears or its content hash changes."""

    glob: str


Watch = GitWatch | HttpWatch | FileWatch


@dataclass(frozen=True)
class Sensor:
    """One entry of ``sensors:``: a watched source, how often ``serve`` looks, and how a
    version becomes a run request."""

    name: str
    watch: Watch
    every: float = 60.0  # seconds between ticks under `orecart serve`
    version_pattern: str | None = None  # params.version = its first group (else the whole match)
    latest_only: bool = False  # of the new versions of one release, only the newest runs
    retries: int = 2  # a version whose run failed or aborted is submitted again this often
    timeout: float = 60.0  # one tick gives up after this long (a hanging server, remote)

    @property
    def kind(self) -> str:
        match self.watch:
            case GitWatch():
                return "git"
            case HttpWatch():
                return "http"
            case FileWatch():
                return "file"
        raise AssertionError(self.watch)  # pragma: no cover


def run_key(sensor: str, version_id: str) -> str:
    """The run key of a version: ``sensor:<sensor>:<version id>``. A key holds one run
    while that run is queued, running or succeeded, so a succeeded version never loads
    again; keys longer than a run key may be (200) end in a digest of their tail."""
    key = f"{KEY_PREFIX}:{sensor}:{version_id}"
    if len(key) <= 200:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[:135]}~{digest}"


@dataclass(frozen=True)
class SensorState:
    """What the store keeps of one sensor between ticks."""

    pipeline: str
    sensor: str
    kind: str
    cursor: Mapping[str, Any] = field(default_factory=dict)
    ticked_at: datetime | None = None  # the last tick that answered
    error: str | None = None  # the last tick's error (None: it answered)
    error_at: datetime | None = None


class VersionState(StrEnum):
    """A source version's execution state (gfe-db's ``ExecutionStatus``, as orecart runs)."""

    NOT_PROCESSED = "not processed"  # seen, no run asked yet
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INVALID = "invalid"  # it loaded, then a check failed
    SKIPPED = "skipped"  # latest_only: a newer version of its release came with it
    CANCELLED = "cancelled"
    ABORTED = "aborted"


@dataclass(frozen=True)
class SourceVersion:
    """One version a sensor saw: its id within the sensor (the run key's tail), what it
    is in the source, the params its run gets, and its latest run."""

    pipeline: str
    sensor: str
    id: str
    version: str
    position: int = 0  # source order within the sensor: the order versions were seen
    ref: str = ""
    commit: str = ""
    params: Mapping[str, str] = field(default_factory=dict)
    seen_at: datetime | None = None
    run_id: str | None = None  # its latest run
    runs: int = 0  # how many runs were asked for it (retries count)
    skipped: bool = False

    @property
    def key(self) -> str:
        return run_key(self.sensor, self.id)
