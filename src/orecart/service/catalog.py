"""The pipelines a long-lived service serves, keyed by pipeline name, read from FILEs and DIRs.

    Catalog(paths, load) -> refresh() at start and from the serve loop
                         -> get(name) / entries() / problems() from any thread

``refresh`` outline: scan (each FILE; each DIR's ``*.yaml``/``*.yml``, not recursive) ->
per file ``_check``: same stamps? keep -> same digest? keep -> a DIR file that is no
pipeline file (``orecart.spec.shape``)? ignore -> load the pipeline and its hooks -> a new
good version, or the error beside the last good one -> ``_resolve`` names -> swap in one
immutable view, so readers always see one consistent snapshot.

What a file's version covers: its bytes, the ``.env`` beside it (the spec reads it), and
the hook modules imported from beside it. A file is read again only when the size or
mtime of one of those changed, and reloaded only when their digest changed too (a touch
reloads nothing). File times are coarse (a kernel tick), so an edit in the same tick as
the last look could keep size and mtime: a stamp younger than ``SETTLED_NS`` at the last
look is not trusted, and the digest decides (git's "racy" rule).

A broken edit keeps the last good version, with ``Entry.error`` set; an error is reported
(in ``Refreshed.errors``) once, when it first appears. Two files that name the same
pipeline: the one serving it keeps it (at start: the first in path order), the other is a
Problem naming both, and takes the name over once the first file goes.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

from orecart.errors import NotFoundError, OrecartError, SpecError, UsageError
from orecart.hookfiles import forget
from orecart.hooks import HookSet
from orecart.model import Pipeline
from orecart.spec.expand import DOTENV
from orecart.spec.shape import is_pipeline_file, name_location

PIPELINE_SUFFIXES = (".yaml", ".yml")
#: how old every watched mtime must be, when looked at, for its stamp to be trusted alone
SETTLED_NS = 1_000_000_000

#: (mtime_ns, size) of each watched path, None for a path that does not exist
Stamp = tuple[tuple[int, int] | None, ...]


@dataclass(frozen=True)
class Entry:
    """One pipeline the service knows: the last good version of its file."""

    file: Path  # resolved
    pipeline: Pipeline  # loaded with no params or profile
    digest: str  # of the file, its .env and the hook modules beside it
    loaded_at: datetime
    hooks: HookSet
    error: str | None = None  # the newest edit's load error; the last good version stays


@dataclass(frozen=True)
class Problem:
    """A file with no good version at all, or one whose pipeline name is taken."""

    file: Path
    error: str


@dataclass(frozen=True)
class Refreshed:
    """What one ``refresh`` changed."""

    loaded: list[str]  # names (re)loaded now
    removed: list[str]  # pipelines gone (their file deleted, or now naming another)
    errors: list[Problem]  # errors that appeared now (a broken edit: the last good stays)


@dataclass(frozen=True)
class _File:
    """What the catalog knows of one file: its stamps, its newest digest and error, and
    its last good version (None: never loaded, or not a pipeline file)."""

    path: Path
    watched: tuple[Path, ...]
    stamp: Stamp
    digest: str
    entry: Entry | None = None
    error: str | None = None
    settled: bool = False  # the stamp alone tells a change (see SETTLED_NS)

    def current(self) -> Entry | None:
        return replace(self.entry, error=self.error) if self.entry else None


@dataclass(frozen=True)
class _View:
    """One consistent snapshot: what readers see between two refreshes."""

    entries: Mapping[str, Entry]
    problems: tuple[Problem, ...]
    reported: frozenset[Problem]  # every error of this snapshot, broken edits included


class Catalog:
    """The pipelines of FILEs and DIRs by name; call ``refresh`` once before reading."""

    def __init__(
        self,
        paths: Sequence[Path],
        load: Callable[[Path], Pipeline],
        hooks: Callable[[Pipeline], HookSet] = HookSet.load,
    ) -> None:
        self._roots = [_existing(Path(path)) for path in paths]
        self._load = load
        self._hooks = hooks
        self._files: dict[Path, _File] = {}
        self._view = _View(MappingProxyType({}), (), frozenset())
        self._refreshing = threading.Lock()

    def get(self, name: str) -> Entry:
        """The pipeline named ``name``; NotFoundError naming the pipelines there are."""
        entries = self._view.entries
        if name not in entries:
            known = ", ".join(sorted(entries)) or "none"
            raise NotFoundError(f"no pipeline named {name!r} is served (served: {known})")
        return entries[name]

    def entries(self) -> list[Entry]:
        entries = self._view.entries
        return [entries[name] for name in sorted(entries)]

    def problems(self) -> list[Problem]:
        return list(self._view.problems)

    def refresh(self) -> Refreshed:
        """(Re)load what changed; cheap (a few stats a file) when nothing did."""
        with self._refreshing:
            before, old = self._view, self._files
            self._files = {
                path: found
                for path, explicit in self._scan()
                if (found := self._check(old.get(path), path, explicit)) is not None
            }
            for gone in old.keys() - self._files.keys():
                forget(gone)  # its hook modules
            self._view = _resolve(self._files.values(), before.entries)
            return _difference(before, self._view)

    def _scan(self) -> list[tuple[Path, bool]]:
        """Every candidate file, resolved, in path order; True for one named as a FILE."""
        found: dict[Path, bool] = {}
        for root in self._roots:
            if root.is_dir():
                for path in sorted(root.iterdir()):
                    if path.suffix in PIPELINE_SUFFIXES and path.is_file():
                        found.setdefault(path.resolve(), False)
            elif root.is_file():
                found[root] = True
        return sorted(found.items())

    def _check(self, old: _File | None, path: Path, explicit: bool) -> _File | None:
        """The file's state now; None when it vanished while being read."""
        watched = old.watched if old else _watched(path, ())
        stamp = _stamp(watched)
        if old is not None and stamp == old.stamp and old.settled:
            return old
        digest = _digest(watched)
        if digest is None:
            return None
        if old is not None and digest == old.digest:
            return replace(old, stamp=stamp, settled=_settled(stamp))
        if not explicit and (old is None or old.entry is None) and not is_pipeline_file(path):
            return _File(path, watched, stamp, digest, settled=_settled(stamp))  # ignored
        return self._loaded(old, path, watched, stamp, digest)

    def _loaded(
        self, old: _File | None, path: Path, watched: tuple[Path, ...], stamp: Stamp, digest: str
    ) -> _File:
        try:
            pipeline = self._load(path)
            hooks = self._hooks(pipeline)
        except OrecartError as exc:
            last = old.entry if old else None
            return _File(path, watched, stamp, digest, last, str(exc), _settled(stamp))
        watched = _watched(path, hooks.files)
        stamp, digest = _stamp(watched), _digest(watched) or digest
        entry = Entry(path, pipeline, digest, datetime.now(UTC), hooks)
        return _File(path, watched, stamp, digest, entry, settled=_settled(stamp))


def _existing(path: Path) -> Path:
    if not path.exists():
        raise UsageError(f"{path}: no such file or directory (nothing to serve there)")
    return path.resolve()


def _watched(path: Path, hook_files: Iterable[Path]) -> tuple[Path, ...]:
    others = sorted({*hook_files} - {path})
    return (path, path.parent / DOTENV, *others)


def _stamp(paths: Iterable[Path]) -> Stamp:
    return tuple(_stat(path) for path in paths)


def _settled(stamp: Stamp) -> bool:
    """Whether every mtime in ``stamp`` is old enough that a later edit must change it."""
    now = time.time_ns()
    return all(found[0] < now - SETTLED_NS for found in stamp if found is not None)


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (found.st_mtime_ns, found.st_size)


def _digest(paths: Sequence[Path]) -> str | None:
    """The digest of the watched files' bytes; None when the pipeline file itself is gone."""
    digest = hashlib.sha256()
    for index, path in enumerate(paths):
        try:
            data = path.read_bytes()
        except OSError:
            if index == 0:
                return None
            data = b"\0absent"
        digest.update(f"{path}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def _resolve(files: Iterable[_File], before: Mapping[str, Entry]) -> _View:
    """Names to entries: the file serving a name keeps it, new claims go in path order."""
    loaded = sorted((f for f in files if f.entry), key=lambda f: f.path)
    keep = [f for f in loaded if _name(f) in before and before[_name(f)].file == f.path]
    entries: dict[str, Entry] = {}
    problems: list[Problem] = []
    for found in keep + [f for f in loaded if f not in keep]:
        entry = found.current()
        if entry is None:
            continue
        if entry.pipeline.name in entries:
            problems.append(_clash(found.path, entries[entry.pipeline.name]))
        else:
            entries[entry.pipeline.name] = entry
    broken = [Problem(f.path, f.error) for f in files if f.error and f.entry is None]
    edits = [Problem(f.path, f.error) for f in loaded if f.error]
    problems = sorted(broken + problems, key=lambda p: p.file)
    return _View(MappingProxyType(entries), tuple(problems), frozenset(problems + edits))


def _name(found: _File) -> str:
    return found.entry.pipeline.name if found.entry else ""


def _clash(path: Path, holder: Entry) -> Problem:
    name = holder.pipeline.name
    error = SpecError(f"pipeline {name!r} is already served from {holder.file}: this file "
                      "is not served until one of the two is renamed", name_location(path),
                      "pipeline")
    return Problem(path, str(error))


def _difference(before: _View, after: _View) -> Refreshed:
    def version(entry: Entry) -> tuple[Path, str, datetime]:
        return (entry.file, entry.digest, entry.loaded_at)

    loaded = [name for name, entry in after.entries.items()
              if name not in before.entries or version(before.entries[name]) != version(entry)]
    removed = [name for name in before.entries if name not in after.entries]
    errors = sorted(after.reported - before.reported, key=lambda p: (p.file, p.error))
    return Refreshed(sorted(loaded), sorted(removed), errors)
