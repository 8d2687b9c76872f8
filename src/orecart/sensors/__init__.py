"""Source watchers: each kind (git, http, file) looks at its source and answers the new
versions since a persisted cursor, in source order, with the cursor to keep.

    watcher(sensor, where) -> Watcher.look(cursor, timeout) -> Sensed(found, cursor)
    -> orecart.sensors.versions turns what was found into SourceVersions (params,
       version_pattern, latest_only) -> the service submits them (``service.sensing``)

A watcher never touches the store or the queue; a source it cannot read is a
``SensorError``. Each kind's module is imported only when a sensor of that kind looks.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from orecart.sensing import Sensor


@dataclass(frozen=True)
class Found:
    """One new version in a source. ``id`` is unique within the sensor (the tail of its
    run key); ``subject`` is what ``version_pattern`` reads; ``version`` is the version
    when there is no pattern (the commit, the tag, the content hash)."""

    id: str
    subject: str
    version: str
    ref: str = ""
    commit: str = ""
    tag: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)  # more params: url, path, ...


@dataclass(frozen=True)
class Sensed:
    """What one look answered: the new versions, oldest first, and the cursor to keep."""

    found: tuple[Found, ...]
    cursor: Mapping[str, Any]


@dataclass(frozen=True)
class Where:
    """Where a sensor's relative paths start (the pipeline file's folder) and where it may
    keep a cache (a git sensor's fetched objects)."""

    base_dir: Path
    cache_dir: Path


class Watcher(Protocol):
    def look(self, cursor: Mapping[str, Any], timeout: float) -> Sensed:
        """The versions new since ``cursor`` (empty: never looked), within ``timeout``
        seconds; ``SensorError`` when the source cannot be read."""
        ...


_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]*@")


def redact(text: str) -> str:
    """A source URL's user and password (``https://user:token@host``) never reach a
    message, the store or the log."""
    return _CREDENTIALS.sub("***@", text)


WATCHERS: dict[str, str] = {
    "git": "orecart.sensors.git:GitWatcher",
    "http": "orecart.sensors.http:HttpWatcher",
    "file": "orecart.sensors.files:FileWatcher",
}


def watcher(sensor: Sensor, where: Where) -> Watcher:
    """The watcher of ``sensor``'s kind, its module imported now."""
    module_name, _, class_name = WATCHERS[sensor.kind].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    found: Watcher = cls(sensor, where)
    return found
