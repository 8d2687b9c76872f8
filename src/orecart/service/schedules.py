"""When a pipeline's schedule fires: its ticks, the one that is due, and a tick's run key.

Pure logic over aware datetimes (no I/O, no threads, no sleeping): the serve loop asks
``Scheduler.due_now`` what to submit, submits each with ``tick_key(tick)`` as its run key,
remembers the tick as the pipeline's last one, and sleeps until ``Scheduler.next_wake``.

The rules, fixed here:

* ``every:`` ticks are anchored at the Unix epoch: multiples of the interval since
  1970-01-01T00:00:00Z, so a restart never shifts them (``every: 1d`` ticks at 00:00 UTC,
  ``every: 10m`` at :00, :10, ...).
* ``cron:`` ticks are wall-clock times in the schedule's timezone. A time the clocks skip
  (02:30 on the spring-forward day) fires at the first instant after the gap (03:00); a
  time that happens twice (02:30 on the fall-back day) fires once, at its first occurrence.
  Several skipped times collapse into that one tick.
* Missed ticks run once: ``due`` returns only the newest tick in ``(last, now]``, however
  many the service slept through. A pipeline never ticked before (``last`` None) is not
  due; its first tick is the next one after now (``Scheduler.reference`` gives the ``last``
  to remember then).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from orecart.model import Schedule
from orecart.spec.cron import Cron, parse_cron

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MINUTE = timedelta(minutes=1)
#: How far to look for a cron tick: a leap day (``0 0 29 2 *``) comes within 8 years.
_HORIZON_DAYS = 9 * 366
#: The longest gap clocks ever skipped (Samoa, December 2011: a whole day), and then some.
_LONGEST_GAP = 2 * 24 * 60


def next_tick(schedule: Schedule, after: datetime) -> datetime:
    """The schedule's first tick strictly after ``after`` (aware), in UTC."""
    after = _utc(after)
    if schedule.every is not None:
        return EPOCH + _period(schedule) * (_elapsed(schedule, after) + 1)
    cron, zone = _cron(schedule)
    first = after.astimezone(zone).date() - timedelta(days=1)  # zones that move midnight
    for day in _days(cron, first, 1):
        walls = _walls(cron, day)
        index = bisect_right(walls, after, key=lambda wall: _instant(wall, zone))
        if index < len(walls):
            return _instant(walls[index], zone)
    raise AssertionError(f"{schedule} has no tick after {after}")  # refused by the spec


def latest_tick(schedule: Schedule, at: datetime) -> datetime:
    """The schedule's newest tick at or before ``at`` (aware), in UTC."""
    at = _utc(at)
    if schedule.every is not None:
        return EPOCH + _period(schedule) * _elapsed(schedule, at)
    cron, zone = _cron(schedule)
    first = at.astimezone(zone).date() + timedelta(days=1)
    for day in _days(cron, first, -1):
        walls = _walls(cron, day)
        index = bisect_right(walls, at, key=lambda wall: _instant(wall, zone))
        if index:
            return _instant(walls[index - 1], zone)
    raise AssertionError(f"{schedule} has no tick before {at}")


def due(schedule: Schedule, last: datetime | None, now: datetime) -> datetime | None:
    """The newest tick in ``(last, now]``, or None. However many ticks were missed, only
    the newest is returned: a schedule missed while the service was down runs once."""
    if last is None:
        return None
    tick = latest_tick(schedule, now)
    return tick if tick > _utc(last) else None


def tick_key(tick: datetime) -> str:
    """The run key of a tick: ``schedule:`` and the tick in UTC, the same on every host."""
    text = _utc(tick).strftime("%Y-%m-%dT%H:%M:%S")
    if tick.microsecond:
        text += f".{tick.microsecond:06d}"
    return f"schedule:{text}Z"


def tick_of(key: str) -> datetime | None:
    """The tick a run key of ``tick_key`` names; None when it is not one."""
    text = key.removeprefix("schedule:").removesuffix("Z")
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        return None


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"a schedule needs an aware datetime, got {moment!r}")
    return moment.astimezone(UTC)


def _period(schedule: Schedule) -> timedelta:
    assert schedule.every is not None
    return max(_MICROSECOND, timedelta(seconds=schedule.every))


def _elapsed(schedule: Schedule, moment: datetime) -> int:
    """Whole periods from the epoch to ``moment`` (integer arithmetic: no float drift)."""
    return (moment - EPOCH) // _period(schedule)


def _cron(schedule: Schedule) -> tuple[Cron, ZoneInfo]:
    assert schedule.cron is not None
    return parse_cron(schedule.cron), ZoneInfo(schedule.timezone)


def _days(cron: Cron, first: date, step: int) -> Iterator[date]:
    """The days the expression fires on, from ``first`` on (``step`` 1) or back (-1)."""
    for offset in range(_HORIZON_DAYS):
        day = first + timedelta(days=offset * step)
        if cron.matches(day):
            yield day


def _walls(cron: Cron, day: date) -> list[datetime]:
    """The day's wall-clock times the expression names, in order (naive)."""
    midnight = datetime(day.year, day.month, day.day)
    return [
        midnight + timedelta(hours=hour, minutes=minute)
        for hour in cron.hours
        for minute in cron.minutes
    ]


def _instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant a wall-clock time fires at: its first occurrence when the clocks
    fall back over it (fold 0), the end of the gap when they spring forward over it.
    Monotonic in ``wall``, so a day's ticks stay ordered and can be bisected."""
    instant = wall.replace(tzinfo=zone).astimezone(UTC)
    if _exists(wall, instant, zone):
        return instant
    for minutes in range(1, _LONGEST_GAP):
        later = wall + _MINUTE * minutes
        instant = later.replace(tzinfo=zone).astimezone(UTC)
        if _exists(later, instant, zone):
            return instant
    raise AssertionError(f"{wall} in {zone} lies in a gap longer than two days")


def _exists(wall: datetime, instant: datetime, zone: ZoneInfo) -> bool:
    return instant.astimezone(zone).replace(tzinfo=None) == wall


def _system_clock() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    """What the serve loop asks about many schedules at once, on a clock it can control.

        reference() at first sight of a pipeline -> due_now(...) each wake -> submit with
        tick_key(tick), remember tick -> next_wake(...) -> sleep until then
    """

    def __init__(self, clock: Callable[[], datetime] = _system_clock) -> None:
        self.clock = clock

    def now(self) -> datetime:
        return _utc(self.clock())

    def reference(self) -> datetime:
        """The ``last`` to remember for a schedule never ticked: now (so its first tick
        is the next one, not one in the past)."""
        return self.now()

    def due_now(
        self,
        schedules: Mapping[str, Schedule],
        last: Callable[[str], datetime | None],
    ) -> list[tuple[str, datetime]]:
        """(pipeline, tick) for every schedule due now, in the order given."""
        now = self.now()
        found = ((name, due(schedule, last(name), now)) for name, schedule in schedules.items())
        return [(name, tick) for name, tick in found if tick is not None]

    def next_wake(self, schedules: Mapping[str, Schedule]) -> datetime | None:
        """The earliest tick after now of any schedule (None: there are none)."""
        now = self.now()
        ticks = [next_tick(schedule, now) for schedule in schedules.values()]
        return min(ticks, default=None)
