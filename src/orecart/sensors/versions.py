"""What a sensor found, as source versions: their ``version`` (``version_pattern``'s first
group, else the commit, tag or content hash), the params their run gets, and which of
them ``latest_only`` skips. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from orecart.sensing import Sensor, SourceVersion
from orecart.sensors import Found


def versions_of(pipeline: str, sensor: Sensor, found: Sequence[Found],
                now: datetime) -> list[SourceVersion]:
    """The versions among ``found`` (in its order): what ``version_pattern`` does not
    match is no version; with ``latest_only``, of several new versions with one
    ``version`` only the last (the newest) is not skipped."""
    versions = []
    for item in found:
        version = _version(sensor, item)
        if version is None:
            continue
        params = {"sensor": sensor.name, "commit": item.commit, "ref": item.ref,
                  "tag": item.tag, "version": version, **item.extra}
        versions.append(SourceVersion(pipeline, sensor.name, item.id, version,
                                      ref=item.ref, commit=item.commit, params=params,
                                      seen_at=now))
    return _latest_only(versions) if sensor.latest_only else versions


def _version(sensor: Sensor, item: Found) -> str | None:
    if sensor.version_pattern is None:
        return item.version
    match = re.search(sensor.version_pattern, item.subject)
    if match is None:
        return None
    return match.group(1) if match.re.groups else match.group(0)


def _latest_only(versions: Sequence[SourceVersion]) -> list[SourceVersion]:
    newest = {v.version: i for i, v in enumerate(versions)}
    return [v if newest[v.version] == i else _skip(v) for i, v in enumerate(versions)]


def _skip(version: SourceVersion) -> SourceVersion:
    return replace(version, skipped=True)
