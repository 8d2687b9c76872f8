"""Durations as people write them ("90s", "1h30m", "500ms") turned into seconds.

Timeouts, backoffs and waits all go through here, so every field accepts the same forms.
"""

from __future__ import annotations

import math
import re

from orecart.errors import SpecError

UNITS: dict[str, float] = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)(ms|d|h|m|s)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?|\.\d+")
PATTERN = r"^\s*((\d+(\.\d+)?|\.\d+)(ms|d|h|m|s)?)+\s*$"  # loose form, for the JSON Schema
#: The shortest ``every:``: a schedule, sensor or trigger firing faster is a typo, and would
#: flood the queue (or the graph).
SHORTEST_EVERY = 1.0
HINT = "expected a duration such as 90s, 30m, 2h, 1h30m, 500ms, 1d or a number of seconds"


def parse_duration(text: str | int | float) -> float:
    """Seconds in ``text``: a number of seconds or parts like "1h30m", largest unit first.

    Raises SpecError (without a location; callers that know one add it).
    """
    if isinstance(text, bool):
        raise SpecError(f"{HINT}, got {text!r}")
    if isinstance(text, int | float):
        return _checked(float(text), text)
    cleaned = text.strip()
    if _NUMBER.fullmatch(cleaned):
        return _checked(float(cleaned), text)
    return _checked(_sum_parts(cleaned, text), text)


def _sum_parts(cleaned: str, original: str) -> float:
    total, position, previous = 0.0, 0, math.inf
    for match in _PART.finditer(cleaned):
        if match.start() != position:
            break
        size = UNITS[match.group(2)]
        if size >= previous:  # "30m1h" or "1m1m" is a typo more often than intent
            raise SpecError(f"{HINT}; units must go from largest to smallest, got {original!r}")
        total += float(match.group(1)) * size
        position, previous = match.end(), size
    if not cleaned or position != len(cleaned):
        raise SpecError(f"{HINT}, got {original!r}")
    return total


MAX_SECONDS = 366 * 86400.0  # a year: longer waits are typos, and overflow timers


def _checked(seconds: float, original: object) -> float:
    if not math.isfinite(seconds) or seconds < 0:
        raise SpecError(f"{HINT}, got {original!r}")
    if seconds > MAX_SECONDS:
        raise SpecError(f"at most 366d, got {original!r}")
    return seconds
