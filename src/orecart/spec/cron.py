"""Cron expressions: the five-field grammar of Vixie cron, parsed into sets of values.

``minute hour day-of-month month day-of-week``, each field ``*``, a value, a range
``a-b``, a step ``*/n``, ``a-b/n`` or ``a/n`` (from ``a`` to the field's end), or a
comma-separated list of those; months and weekdays also by name (``jan``, ``mon``),
weekday 0 and 7 both Sunday. ``@hourly``, ``@daily`` (``@midnight``), ``@weekly``,
``@monthly`` and ``@yearly`` (``@annually``) stand for their usual expressions.

Days follow cron's rule: when both day fields are restricted (neither starts with ``*``)
a day matches either of them; otherwise it must match both. Only the grammar and the
matching of a calendar day live here; the instants (timezones, DST) are the service's
(``orecart.service.schedules``), which reads this module as the spec does.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


class CronError(ValueError):
    """A cron expression that does not parse, or matches no time at all."""


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    first_name: int = 0  # the value of names[0]
    end: int | None = None  # where * and a/n stop (weekdays: 6, though 7 is Sunday too)

    @property
    def last(self) -> int:
        return self.high if self.end is None else self.end


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, MONTHS, 1),
    _Field("day of week", 0, 7, WEEKDAYS, 0, end=6),
)


@dataclass(frozen=True)
class Cron:
    """A parsed expression: the values each field allows (weekdays 0-6, Sunday 0)."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool  # the day-of-month field starts with *
    any_weekday: bool  # the day-of-week field starts with *

    def matches(self, day: date) -> bool:
        """Whether the expression fires on ``day`` at all (at its hours and minutes)."""
        if day.month not in self.months:
            return False
        in_month = day.day in self.days
        in_week = day.isoweekday() % 7 in self.weekdays
        if self.any_day or self.any_weekday:
            return in_month and in_week
        return in_month or in_week


def parse_cron(text: str) -> Cron:
    """The Cron of ``text``; CronError naming the field when it is not an expression."""
    words = ALIASES.get(text.strip().lower(), text).split()
    if len(words) != len(_FIELDS):
        raise CronError(f"expected 5 fields (minute hour day month weekday), got {len(words)}")
    values = [_parse_field(word, spec) for word, spec in zip(words, _FIELDS, strict=True)]
    minutes, hours, days, months, weekdays = values
    cron = Cron(
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        days=frozenset(days),
        months=frozenset(months),
        weekdays=frozenset(day % 7 for day in weekdays),
        any_day=words[2].startswith("*"),
        any_weekday=words[4].startswith("*"),
    )
    _check_possible(cron)
    return cron


def _parse_field(word: str, spec: _Field) -> set[int]:
    found: set[int] = set()
    for item in word.lower().split(","):
        found.update(_parse_item(item, spec))
    return found


def _parse_item(item: str, spec: _Field) -> range:
    span, slash, step_text = item.partition("/")
    step = _number(step_text, spec, "step") if slash else 1
    if slash and step < 1:
        raise CronError(f"{spec.name}: a step must be at least 1, got {item!r}")
    if span == "*":
        return range(spec.low, spec.last + 1, step)
    first, dash, last = span.partition("-")
    low = _value(first, spec)
    high = _value(last, spec) if dash else (spec.last if slash else low)
    if high < low:
        raise CronError(f"{spec.name}: the range {span!r} runs backwards")
    return range(low, high + 1, step)


def _value(text: str, spec: _Field) -> int:
    if text in spec.names:
        return spec.names.index(text) + spec.first_name
    value = _number(text, spec, "value")
    if not spec.low <= value <= spec.high:
        raise CronError(f"{spec.name}: {value} is not within {spec.low}-{spec.high}")
    return value


def _number(text: str, spec: _Field, what: str) -> int:
    if not text.isdigit() or not text.isascii():
        hint = f" or a name like {spec.names[0]}" if spec.names else ""
        raise CronError(f"{spec.name}: expected a number{hint} as {what}, got {text!r}")
    return int(text)


def _check_possible(cron: Cron) -> None:
    """Refuse an expression that can never fire (``0 0 30 2 *``): it would wait forever."""
    if not cron.any_day and not cron.any_weekday:
        return  # any weekday in the months will do
    longest = max(calendar.monthrange(2024, month)[1] for month in cron.months)
    if not cron.any_day and min(cron.days) > longest:
        months = ", ".join(MONTHS[m - 1] for m in sorted(cron.months))
        raise CronError(f"day {min(cron.days)} never comes in {months}")
