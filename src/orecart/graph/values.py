"""Neo4j property values <-> JSON, losslessly, for backups.

JSON has numbers, strings, booleans and lists, which covers most properties as they are.
Every other type Neo4j stores becomes a tagged object ``{"$": kind, "v": ...}`` (a property
value is never a map, so an object is always a tag): byte arrays, Date, Time, LocalTime,
DateTime (with zone id or offset), LocalDateTime, Duration and Points (by SRID). Times keep
nanoseconds; zoned datetimes keep their zone id and their offset, so the wall-clock time
comes back even across a DST change.

Backup asks the server (5.13+, for ``valueType``) to tag scalar dates, datetimes and times
itself (``encoded_values``): the driver's hydration of them, pytz zones included, cost more
than the rest of a backup. Restore sends no driver temporal or spatial objects either, for
the same reason: ``split_properties`` turns a property map into its plain values and, per
typed key, a list of fields; ``rebuild`` is the Cypher that makes the value from that list
on the server. A zoned datetime is built at its offset and then moved to its zone, which
keeps the instant, so DST folds come back as they were.

Two limits come from the Python driver: temporal values outside years 1-9999 cannot be read
(the driver refuses them), and a DateTime stored with offset ``Z`` and one stored with zone
``[UTC]`` look alike; both come back with offset ``Z``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from neo4j.spatial import CartesianPoint, Point, WGS84Point
from neo4j.time import Date, DateTime, Duration, Time

Json = Any
_PLAIN = (str, int, float, bool)
_READY = (*_PLAIN, dict)  # a map is a value the export query already tagged


def encode_properties(props: dict[str, Any]) -> dict[str, Json]:
    """A property map as JSON-ready values."""
    for value in props.values():
        if not isinstance(value, _READY):
            return {key: encode(value) for key, value in props.items()}
    return props  # the common case: nothing to convert


Typed = tuple[tuple[str, str], ...]  # (key, kind) per property rebuilt on the server


def encoded_values(props: str, *, tag: bool = True) -> str:
    """Cypher for the values of the map ``props``, in ``keys(props)`` order, with scalar
    temporal values tagged as ``encode`` tags them (``tag=False``: untagged, for servers
    before 5.13)."""
    if not tag:
        return f"[k IN keys({props}) | {props}[k]]"
    x = f"{props}[k]"
    whens = " ".join(f"WHEN '{kind} NOT NULL' THEN {tagged}" for kind, tagged in _TAGGED.items())
    return f"[k IN keys({props}) | CASE valueType({x}) {whens} ELSE {x} END]".replace("X", x)


def split_properties(props: dict[str, Json]) -> tuple[dict[str, Any], Typed, list[Any]]:
    """A decoded property map as (plain values, typed keys, their field lists).

    ``kind`` is a tag (``"date"``) or a list of one (``"[]date"``); the field lists go to the
    server as parameters and ``rebuild(kind, ...)`` makes the values there.
    """
    for value in props.values():
        if isinstance(value, dict | list):
            break
    else:
        return props, (), []
    plain: dict[str, Any] = {}
    typed: list[tuple[str, str]] = []
    fields: list[Any] = []
    for key, value in props.items():
        if isinstance(value, dict):
            kind = value["$"]
            if kind == "bytes":
                plain[key] = base64.b64decode(value["v"])
                continue
            typed.append((key, kind))
            fields.append(_FIELDS[kind](value))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            kind = value[0]["$"]
            typed.append((key, "[]" + kind))
            fields.append([_FIELDS[kind](item) for item in value])
        else:
            plain[key] = value
    return plain, tuple(typed), fields


def rebuild(kind: str, expression: str) -> str:
    """Cypher making the value of ``kind`` from the field list ``expression`` evaluates to."""
    if kind.startswith("[]"):
        return f"[x IN {expression} | {_REBUILD[kind[2:]].format(x='x')}]"
    return _REBUILD[kind].format(x=expression)


def encode(value: Any) -> Json:
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, list):
        return [encode(item) for item in value]
    if isinstance(value, dict):  # tagged by the export query
        return value
    encoder = _ENCODERS.get(type(value))
    if encoder is None:
        if isinstance(value, Point):
            return {"$": "point", "srid": value.srid, "v": list(value)}
        raise TypeError(f"cannot back up a property of type {type(value).__name__}")
    return encoder(value)


def _encode_time(value: Time) -> Json:
    fields = [value.hour, value.minute, value.second, value.nanosecond]
    if value.tzinfo is None:
        return {"$": "localtime", "v": fields}
    return {"$": "time", "v": fields, "o": _offset_seconds(value.utc_offset())}


def _encode_datetime(value: DateTime) -> Json:
    fields = [
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.nanosecond,
    ]
    tz = value.tzinfo
    if tz is None:
        return {"$": "localdatetime", "v": fields}
    encoded: dict[str, Json] = {"$": "datetime", "v": fields}
    encoded["o"] = _offset_seconds(tz.utcoffset(value))
    zone = getattr(tz, "zone", None)
    if isinstance(zone, str) and zone != "UTC":
        encoded["z"] = zone
    return encoded


def _offset_seconds(offset: timedelta | None) -> int:
    return int(offset.total_seconds()) if offset is not None else 0


_ENCODERS: dict[type, Callable[[Any], Json]] = {
    bytes: lambda v: {"$": "bytes", "v": base64.b64encode(v).decode("ascii")},
    bytearray: lambda v: {"$": "bytes", "v": base64.b64encode(v).decode("ascii")},
    Date: lambda v: {"$": "date", "v": [v.year, v.month, v.day]},
    Time: _encode_time,
    DateTime: _encode_datetime,
    Duration: lambda v: {"$": "duration", "v": [v.months, v.days, v.seconds, v.nanoseconds]},
    CartesianPoint: lambda v: {"$": "point", "srid": v.srid, "v": list(v)},
    WGS84Point: lambda v: {"$": "point", "srid": v.srid, "v": list(v)},
}


def _offset_text(seconds: int) -> str:
    text = _OFFSETS.get(seconds)
    if text is None:
        sign = "-" if seconds < 0 else "+"
        hours, rest = divmod(abs(seconds), 3600)
        minutes, secs = divmod(rest, 60)
        text = f"{sign}{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")
        _OFFSETS[seconds] = text
    return text


_OFFSETS: dict[int, str] = {}

_FIELDS: dict[str, Callable[[Json], Any]] = {  # the parameter ``_REBUILD`` reads
    "date": lambda v: v["v"],
    "localtime": lambda v: v["v"],
    "time": lambda v: [*v["v"], _offset_text(v["o"])],
    "localdatetime": lambda v: v["v"],
    "datetime": lambda v: [*v["v"], _offset_text(v["o"]), v.get("z") or _offset_text(v["o"])],
    "duration": lambda v: v["v"],
    "point": lambda v: [v["srid"], *v["v"]],
}

_DATE = "year: {x}[0], month: {x}[1], day: {x}[2]"
_CLOCK = "hour: {x}[{h}], minute: {x}[{m}], second: {x}[{s}], nanosecond: {x}[{n}]"
_TIME = _CLOCK.format(x="{x}", h=0, m=1, s=2, n=3)
_STAMP = _DATE + ", " + _CLOCK.format(x="{x}", h=3, m=4, s=5, n=6)
_REBUILD: dict[str, str] = {  # ``{x}``: the field list from ``_FIELDS``
    "date": "date({{" + _DATE + "}})",
    "localtime": "localtime({{" + _TIME + "}})",
    "time": "time({{" + _TIME + ", timezone: {x}[4]}})",
    "localdatetime": "localdatetime({{" + _STAMP + "}})",
    "datetime": "datetime({{datetime: datetime({{" + _STAMP + ", timezone: {x}[7]}}), "
    "timezone: {x}[8]}})",
    "duration": "duration({{months: {x}[0], days: {x}[1], seconds: {x}[2], nanoseconds: {x}[3]}})",
    "point": "point(CASE size({x}) WHEN 3 THEN {{srid: {x}[0], x: {x}[1], y: {x}[2]}} "
    "ELSE {{srid: {x}[0], x: {x}[1], y: {x}[2], z: {x}[3]}} END)",
}

_YMD = "X.year, X.month, X.day"
_HMSN = "X.hour, X.minute, X.second, X.nanosecond"
_TAGGED = {  # valueType -> the tag ``encode`` makes, of the value X
    "DATE": "{`$`: 'date', v: [" + _YMD + "]}",
    "LOCAL DATETIME": "{`$`: 'localdatetime', v: [" + _YMD + ", " + _HMSN + "]}",
    "ZONED DATETIME": "CASE WHEN X.timezone =~ 'Z|UTC|[-+].*' "
    "THEN {`$`: 'datetime', v: [" + _YMD + ", " + _HMSN + "], o: X.offsetSeconds} "
    "ELSE {`$`: 'datetime', v: [" + _YMD + ", " + _HMSN + "], o: X.offsetSeconds, "
    "z: X.timezone} END",
    "LOCAL TIME": "{`$`: 'localtime', v: [" + _HMSN + "]}",
    "ZONED TIME": "{`$`: 'time', v: [" + _HMSN + "], o: X.offsetSeconds}",
}
