"""Schedule ticks on a controllable clock: cron grammar, DST, every: anchoring, missed
ticks running once, tick keys, and the Scheduler the serve loop asks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from orecart.model import Schedule
from orecart.service.schedules import Scheduler, due, latest_tick, next_tick, tick_key
from orecart.spec.cron import CronError, parse_cron

BERLIN = ZoneInfo("Europe/Berlin")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def ticks(schedule: Schedule, after: datetime, count: int) -> list[datetime]:
    found = []
    for _ in range(count):
        after = next_tick(schedule, after)
        found.append(after)
    return found


def test_a_daily_cron_in_a_timezone_ticks_at_local_time() -> None:
    daily = Schedule(cron="0 2 * * *", timezone="Europe/Berlin")
    assert ticks(daily, utc(2026, 1, 10, 12), 2) == [utc(2026, 1, 11, 1), utc(2026, 1, 12, 1)]
    assert next_tick(daily, utc(2026, 6, 30, 23, 59)) == utc(2026, 7, 1, 0)  # CEST: UTC+2


def test_a_time_the_clocks_skip_fires_at_the_end_of_the_gap() -> None:
    daily = Schedule(cron="30 2 * * *", timezone="Europe/Berlin")
    found = ticks(daily, utc(2026, 3, 28, 12), 2)  # 2026-03-29: 02:00 -> 03:00
    assert [t.astimezone(BERLIN).strftime("%d %H:%M") for t in found] == ["29 03:00", "30 02:30"]
    burst = Schedule(cron="0,15,30,45 2 * * *", timezone="Europe/Berlin")
    assert ticks(burst, utc(2026, 3, 28, 12), 2) == [utc(2026, 3, 29, 1), utc(2026, 3, 30, 0)]


def test_a_time_that_happens_twice_fires_once_at_its_first_occurrence() -> None:
    daily = Schedule(cron="30 2 * * *", timezone="Europe/Berlin")
    found = ticks(daily, utc(2026, 10, 24, 12), 2)  # 2026-10-25: 03:00 -> 02:00
    assert found == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]
    hourly = Schedule(cron="30 * * * *", timezone="Europe/Berlin")
    found = ticks(hourly, utc(2026, 10, 24, 23, 45), 3)
    assert found == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 2, 30), utc(2026, 10, 25, 3, 30)]


def test_latest_tick_agrees_with_next_tick_across_dst() -> None:
    for cron in ("30 2 * * *", "*/20 1-3 * * *", "0 0 * * 0"):
        schedule = Schedule(cron=cron, timezone="Europe/Berlin")
        moment = utc(2026, 3, 27)
        for tick in ticks(schedule, moment, 20):
            assert latest_tick(schedule, tick) == tick
            assert latest_tick(schedule, tick + timedelta(seconds=59)) == tick
            assert next_tick(schedule, tick - timedelta(seconds=1)) == tick


def test_cron_grammar_lists_ranges_steps_names_and_aliases() -> None:
    cron = parse_cron("*/15 9-17/4 1,15 jan-mar MON-fri")
    assert cron.minutes == (0, 15, 30, 45) and cron.hours == (9, 13, 17)
    assert cron.days == {1, 15} and cron.months == {1, 2, 3}
    assert cron.weekdays == {1, 2, 3, 4, 5}
    assert parse_cron("0 0 * * 7").weekdays == {0}  # 7 is Sunday too
    assert parse_cron("0 0 * * mon/2").weekdays == {1, 3, 5}
    assert parse_cron("@daily") == parse_cron("0 0 * * *")


def test_day_of_month_and_weekday_match_either_when_both_are_restricted() -> None:
    either = Schedule(cron="0 12 13 * fri")  # the 13th, and every Friday
    found = ticks(either, utc(2026, 2, 1), 4)
    assert [t.day for t in found] == [6, 13, 20, 27]  # Fri 6, Fri 13, Fri 20, Fri 27
    both = Schedule(cron="0 12 */13 * fri")  # a * day field: both must hold
    assert next_tick(both, utc(2026, 1, 1)) == utc(2026, 2, 27, 12)  # day 27, a Friday


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("0 2 * *", "expected 5 fields"),
        ("60 * * * *", "minute: 60 is not within 0-59"),
        ("0 0 * foo *", "month: expected a number or a name like jan"),
        ("0 5-2 * * *", "runs backwards"),
        ("*/0 * * * *", "step must be at least 1"),
        ("0 0 30 2 *", "day 30 never comes in feb"),
        ("0 0 ３ * *", "expected a number"),
    ],
)
def test_bad_cron_expressions_are_refused_with_the_field(text: str, words: str) -> None:
    with pytest.raises(CronError, match=words):
        parse_cron(text)


def test_a_leap_day_schedule_finds_its_next_leap_year() -> None:
    assert next_tick(Schedule(cron="0 0 29 2 *"), utc(2026, 1, 1)) == utc(2028, 2, 29)


def test_every_ticks_at_multiples_of_its_interval_since_the_epoch() -> None:
    ten = Schedule(every=600)
    assert next_tick(ten, utc(2026, 5, 1, 10, 3, 7)) == utc(2026, 5, 1, 10, 10)
    assert next_tick(ten, utc(2026, 5, 1, 10, 10)) == utc(2026, 5, 1, 10, 20)  # strictly after
    assert latest_tick(ten, utc(2026, 5, 1, 10, 10)) == utc(2026, 5, 1, 10, 10)
    odd = Schedule(every=7)
    tick = next_tick(odd, utc(2026, 5, 1))
    assert (tick - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() % 7 == 0


def test_missed_ticks_run_once_the_newest() -> None:
    daily = Schedule(cron="0 2 * * *")
    last = utc(2026, 1, 1, 2)
    assert due(daily, last, utc(2026, 1, 9, 12)) == utc(2026, 1, 9, 2)  # eight missed: one
    assert due(daily, utc(2026, 1, 9, 2), utc(2026, 1, 9, 12)) is None  # already ran
    assert due(daily, last, utc(2026, 1, 2, 2)) == utc(2026, 1, 2, 2)  # (last, now]
    assert due(daily, last, utc(2026, 1, 2, 1, 59)) is None
    assert due(daily, None, utc(2026, 1, 9)) is None  # never ticked: the next tick is first


def test_tick_keys_are_utc_and_stable() -> None:
    berlin = datetime(2026, 12, 2, 2, tzinfo=BERLIN)
    assert tick_key(berlin) == "schedule:2026-12-02T01:00:00Z"
    assert tick_key(berlin.astimezone(UTC)) == tick_key(berlin)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_tick(Schedule(every=60), datetime(2026, 1, 1))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_the_scheduler_reports_due_schedules_and_when_to_wake() -> None:
    clock = Clock(utc(2026, 1, 1, 0, 0, 30))
    scheduler = Scheduler(clock)
    schedules = {
        "often": Schedule(every=60),
        "nightly": Schedule(cron="0 2 * * *", timezone="Europe/Berlin"),
    }
    last: dict[str, datetime] = {name: scheduler.reference() for name in schedules}
    assert scheduler.due_now(schedules, last.get) == []
    assert scheduler.next_wake(schedules) == utc(2026, 1, 1, 0, 1)
    clock.now = utc(2026, 1, 3, 0, 0, 30)  # down for two days
    due_now = scheduler.due_now(schedules, last.get)
    assert due_now == [("often", utc(2026, 1, 3, 0, 0)), ("nightly", utc(2026, 1, 2, 1, 0))]
    last.update(due_now)
    assert scheduler.due_now(schedules, last.get) == []
    assert scheduler.next_wake({}) is None
