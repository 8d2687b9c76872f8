"""The git sensor, through the ``git`` command line: refs by glob (``git ls-remote``; the
new ones fetched into a cache to order them by date) or the commits of a branch (fetched
into the cache; ``git log`` lists what is new, oldest first).

Cursors: ``{"refs": {refname: object id}}`` for refs (a ref is new when it appears or
points elsewhere; a deleted one just leaves the cursor), ``{"commit": id}`` for a branch
(the new commits are those of the new head not reachable from the old one, so a
force-push submits only the rewritten commits; the first look takes the head alone).
"""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from orecart.errors import SensorError
from orecart.sensing import GitWatch, Sensor
from orecart.sensors import Found, Sensed, Where, redact

_PEELED = "^{}"
_BY_NAME = 64  # new refs fetched by name at most; more are fetched by one wildcard
_SHORT = ("refs/tags/", "refs/heads/", "refs/")


class GitWatcher:
    def __init__(self, sensor: Sensor, where: Where) -> None:
        assert isinstance(sensor.watch, GitWatch)
        self.watch = sensor.watch
        self.cache = where.cache_dir / "git" / f"{sensor.name}.git"
        self._deadline = 0.0

    def look(self, cursor: Mapping[str, Any], timeout: float) -> Sensed:
        self._deadline = time.monotonic() + timeout
        if self.watch.branch is not None:
            return self._branch(self.watch.branch, cursor.get("commit"))
        return self._refs(self.watch.refs or "", dict(cursor.get("refs", {})))

    # -- refs by glob ------------------------------------------------------------------

    def _refs(self, pattern: str, seen: Mapping[str, str]) -> Sensed:
        listed = self._remote_refs()
        now = {ref: oid for ref, oid in listed.items()
               if not ref.endswith(_PEELED) and fnmatch.fnmatchcase(ref, pattern)}
        new = [ref for ref, oid in now.items() if seen.get(ref) != oid]
        if not new:
            return Sensed((), {"refs": now})
        self._fetch(_refspecs(pattern, new))
        found = [self._ref_version(ref, listed) for ref in self._by_date(new)]
        return Sensed(tuple(found), {"refs": now})

    def _remote_refs(self) -> dict[str, str]:
        """refname -> object id, and ``refname^{}`` -> the commit an annotated tag peels to."""
        text = self._git(["ls-remote", self.watch.remote], cwd=None)
        refs: dict[str, str] = {}
        for line in text.splitlines():
            oid, _, ref = line.partition("\t")
            if ref:
                refs[ref] = oid
        return refs

    def _by_date(self, refs: Sequence[str]) -> list[str]:
        """``refs`` by creation date (a tag's, else its commit's), then by name."""
        text = self._git(["for-each-ref", "--format=%(creatordate:unix) %(refname)"])
        dates = {}
        for line in text.splitlines():
            stamp, _, ref = line.partition(" ")
            dates[ref] = int(stamp or 0)
        return sorted(refs, key=lambda ref: (dates.get(ref, 0), ref))

    def _ref_version(self, ref: str, listed: Mapping[str, str]) -> Found:
        commit = listed.get(ref + _PEELED, listed[ref])
        short = _short(ref)
        tag = short if ref.startswith("refs/tags/") else ""
        return Found(f"{short}@{commit}", short, short, ref=ref, commit=commit, tag=tag)

    # -- a branch's commits ------------------------------------------------------------

    def _branch(self, branch: str, old: str | None) -> Sensed:
        ref = f"refs/heads/{branch}"
        head = self._remote_refs().get(ref)
        if head is None:
            raise SensorError(f"git {self._shown()}: no branch {branch!r}")
        if head == old:
            return Sensed((), {"commit": head})
        self._fetch([f"+{ref}:{ref}"])
        span = [head, "--not", old] if old and self._has(old) else ["-1", head]
        text = self._git(["log", "--reverse", "--format=%H%x00%s", *span])
        found = []
        for line in text.splitlines():
            commit, _, subject = line.partition("\x00")
            found.append(Found(commit, subject, commit, ref=ref, commit=commit))
        return Sensed(tuple(found), {"commit": head})

    def _has(self, commit: str) -> bool:
        try:
            self._git(["cat-file", "-e", f"{commit}^{{commit}}"])
        except SensorError:
            return False  # the cache was wiped: the old head is gone
        return True

    # -- the cache and the command line ------------------------------------------------

    def _fetch(self, refspecs: Sequence[str]) -> None:
        if not (self.cache / "HEAD").exists():
            self.cache.parent.mkdir(parents=True, exist_ok=True)
            self._git(["init", "--bare", "--quiet", str(self.cache)], cwd=None)
        self._git(["fetch", "--quiet", "--no-tags", "--force", "--stdin", self.watch.remote],
                  stdin="\n".join(refspecs) + "\n")

    def _git(self, args: Sequence[str], cwd: Path | None | str = "cache",
             stdin: str | None = None) -> str:
        where = ["-C", str(self.cache)] if cwd == "cache" else []
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise SensorError(f"git {self._shown()}: no answer in time")
        try:
            done = subprocess.run(["git", *where, *args], input=stdin, capture_output=True,
                                  text=True, timeout=left, env=_quiet_env(), check=False)
        except subprocess.TimeoutExpired:
            raise SensorError(f"git {self._shown()}: no answer in time (git {args[0]})") from None
        except OSError as exc:
            raise SensorError(f"git cannot run: {exc}") from exc
        if done.returncode != 0:
            why = redact(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "")
            raise SensorError(f"git {args[0]} {self._shown()} failed ({done.returncode}): {why}")
        return done.stdout

    def _shown(self) -> str:
        return redact(self.watch.remote)


def _refspecs(pattern: str, new: Sequence[str]) -> list[str]:
    """What to fetch for the ``new`` refs matching ``pattern``: each by name when they are
    few; else one wildcard refspec over the folder the pattern's literal head names
    (``refs/tags/*`` for ``refs/tags/v[0-9]*``: the folder of refs that exist, so a valid
    refspec), which may fetch some refs more. git matches every named refspec against
    every remote ref: 10,000 new tags by name took a minute, by wildcard about a second."""
    literal = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
    folder = literal[:literal.rfind("/") + 1]
    if len(new) <= _BY_NAME or literal == pattern or not folder.startswith("refs/"):
        return [f"+{ref}:{ref}" for ref in new]
    return [f"+{folder}*:{folder}*"]


def _short(ref: str) -> str:
    for prefix in _SHORT:
        if ref.startswith(prefix):
            return ref[len(prefix):]
    return ref


def _quiet_env() -> dict[str, str]:
    """git never prompts (for a password, a host key): a sensor has nobody to ask."""
    return {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true",
            "GIT_SSH_COMMAND": os.environ.get("GIT_SSH_COMMAND", "ssh -oBatchMode=yes")}
