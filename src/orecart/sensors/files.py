"""The file sensor: a glob (relative to the pipeline file's folder); a file that appears
or whose content hash changes is a new version, oldest modification first.

Cursor: ``{"files": {path: {"sha256", "size", "mtime_ns"}}}``. A file whose size and
modification time are those of the cursor is not read again; any other is hashed as it
streams (a big file never sits in memory whole). A removed file just leaves the cursor.
"""

from __future__ import annotations

import errno
import hashlib
import time
from collections.abc import Mapping
from pathlib import Path
from stat import S_ISREG
from typing import Any

from orecart.errors import SensorError
from orecart.sensing import FileWatch, Sensor
from orecart.sensors import Found, Sensed, Where

CHUNK = 1 << 20
#: a match that is no file to read (gone, a dangling or looping link): what is_file ignores
_NO_FILE = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP})


class FileWatcher:
    def __init__(self, sensor: Sensor, where: Where) -> None:
        assert isinstance(sensor.watch, FileWatch)
        self.glob = sensor.watch.glob
        self.base = where.base_dir

    def look(self, cursor: Mapping[str, Any], timeout: float) -> Sensed:
        deadline = time.monotonic() + timeout
        seen: Mapping[str, Mapping[str, Any]] = cursor.get("files", {})
        now: dict[str, dict[str, Any]] = {}
        found: list[tuple[int, str, Found]] = []
        for path in self._matches():
            name = self._name(path)
            entry = self._entry(path, seen.get(name), deadline)
            if entry is None:
                continue  # not a file, or gone between the glob and the read
            now[name] = entry
            if (seen.get(name) or {}).get("sha256") != entry["sha256"]:
                found.append((entry["mtime_ns"], name, _version(path, name, entry)))
        found.sort(key=lambda item: item[:2])
        return Sensed(tuple(item[2] for item in found), {"files": now})

    def _matches(self) -> list[Path]:
        pattern = Path(self.glob)
        if pattern.is_absolute():
            anchor = Path(pattern.anchor)
            paths = anchor.glob(str(pattern.relative_to(anchor)))
        else:
            paths = self.base.glob(self.glob)
        try:
            return sorted(paths, key=str)  # a str key: comparing Paths is slow by 10,000s
        except OSError as exc:
            raise SensorError(f"file {self.glob}: {exc}") from exc

    def _name(self, path: Path) -> str:
        text, base = str(path), str(self.base).rstrip("/") + "/"
        if text.startswith(base):  # what relative_to answers, at a tenth of its cost
            return text[len(base):]
        return path.as_posix()

    def _entry(self, path: Path, old: Mapping[str, Any] | None,
               deadline: float) -> dict[str, Any] | None:
        try:
            stat = path.stat()
            if not S_ISREG(stat.st_mode):
                return None
            entry: dict[str, Any] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
            if old and all(old.get(k) == v for k, v in entry.items()) and old.get("sha256"):
                return {**entry, "sha256": old["sha256"]}
            return {**entry, "sha256": _hash(path, deadline)}
        except OSError as exc:
            if exc.errno in _NO_FILE:
                return None
            raise SensorError(f"file {path}: {exc}") from exc


def _hash(path: Path, deadline: float) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            if time.monotonic() > deadline:
                raise SensorError(f"file {path}: hashing did not end in time")
    return digest.hexdigest()


def _version(path: Path, name: str, entry: Mapping[str, Any]) -> Found:
    digest = entry["sha256"]
    extra = {"path": str(path.resolve()), "file": name, "sha256": digest}
    return Found(f"{name}@sha256:{digest}", name, digest, extra=extra)
