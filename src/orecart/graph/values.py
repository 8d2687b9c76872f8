"""Neo4j property values <-> JSON, losslessly, for backups.

JSON has numbers, strings, booleans and lists, which covers most properties as they are.
Every other type Neo4j stores becomes a tagged object ``{"$": kind, "v": ...}`` (a property
value is never a map, so an object is always a tag): byte arrays, Date, Time, LocalTime,
DateTime (with zone id or offset), LocalDateTime, Duration and Points (by SRID). Times keep
nanoseconds; zoned datetimes keep their zone id and their offset, so the wall-clock time
comes back even across a DST change.

Two limits come from the Python driver: temporal values outside years 1-9999 cannot be read
(the driver refuses them), and a DateTime stored with offset ``Z`` and one stored with zone
``[UTC]`` look alike; both come back with offset ``Z``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from typing import Any

import pytz
from neo4j.spatial import CartesianPoint, Point, WGS84Point
from neo4j.time import Date, DateTime, Duration, Time

Json = Any
_CARTESIAN = {7203, 9157}
_WGS84 = {4326, 4979}
_PLAIN = (str, int, float, bool)


class FixedOffset(tzinfo):
    """A UTC offset in seconds that the driver sends as an offset, never as a zone id.

    (``pytz.FixedOffset(0)`` is ``pytz.utc``, which the driver would send as zone "UTC";
    ``datetime.timezone`` rejects the driver's Time objects.)
    """

    def __init__(self, seconds: int) -> None:
        self._offset = timedelta(seconds=seconds)

    def utcoffset(self, dt: object) -> timedelta:
        return self._offset

    def dst(self, dt: object) -> timedelta:
        return timedelta(0)

    def tzname(self, dt: object) -> str:
        return f"{self._offset}"


def encode_properties(props: dict[str, Any]) -> dict[str, Json]:
    """A property map as JSON-ready values."""
    for value in props.values():
        if not isinstance(value, _PLAIN):
            return {key: encode(value) for key, value in props.items()}
    return props  # the common case: nothing to convert


def decode_properties(props: dict[str, Json]) -> dict[str, Any]:
    """The inverse of ``encode_properties``: values ready to send as query parameters."""
    for value in props.values():
        if isinstance(value, dict | list):
            return {key: decode(value) for key, value in props.items()}
    return props


def encode(value: Any) -> Json:
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, list):
        return [encode(item) for item in value]
    encoder = _ENCODERS.get(type(value))
    if encoder is None:
        if isinstance(value, Point):
            return {"$": "point", "srid": value.srid, "v": list(value)}
        raise TypeError(f"cannot back up a property of type {type(value).__name__}")
    return encoder(value)


def decode(value: Json) -> Any:
    if isinstance(value, list):
        return [decode(item) for item in value]
    if isinstance(value, dict):
        return _DECODERS[value["$"]](value)
    return value


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


def _decode_datetime(value: Json) -> DateTime:
    y, mo, d, h, mi, s, ns = value["v"]
    zone = value.get("z")
    if zone is None:
        return DateTime(y, mo, d, h, mi, s, ns, tzinfo=FixedOffset(value["o"]))
    wall = datetime(y, mo, d, h, mi, s)
    return DateTime(y, mo, d, h, mi, s, ns, tzinfo=_zone_at(zone, value["o"], wall))


def _zone_at(zone: str, offset: int, naive: datetime) -> tzinfo:
    """The pytz zone instance for that wall-clock time with that offset (DST folds)."""
    tz = pytz.timezone(zone)
    for is_dst in (False, True):
        candidate = tz.localize(naive, is_dst=is_dst)
        if _offset_seconds(candidate.utcoffset()) == offset:
            return candidate.tzinfo  # type: ignore[no-any-return]
    return tz.localize(naive).tzinfo  # type: ignore[no-any-return]


def _decode_time(value: Json) -> Time:
    h, mi, s, ns = value["v"]
    return Time(h, mi, s, ns, tzinfo=FixedOffset(value["o"]))


def _decode_point(value: Json) -> Point:
    srid = value["srid"]
    if srid in _CARTESIAN:
        return CartesianPoint(value["v"])
    if srid in _WGS84:
        return WGS84Point(value["v"])
    raise ValueError(f"unknown point SRID {srid}")


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

_DECODERS: dict[str, Callable[[Json], Any]] = {
    "bytes": lambda v: base64.b64decode(v["v"]),
    "date": lambda v: Date(*v["v"]),
    "localtime": lambda v: Time(*v["v"]),
    "time": _decode_time,
    "localdatetime": lambda v: DateTime(*v["v"]),
    "datetime": _decode_datetime,
    "duration": lambda v: Duration(
        months=v["v"][0], days=v["v"][1], seconds=v["v"][2], nanoseconds=v["v"][3]
    ),
    "point": _decode_point,
}
