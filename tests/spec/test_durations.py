"""parse_duration: the duration forms every timeout, backoff and wait accepts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orecart.errors import SpecError
from orecart.spec import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1800),
        ("2h", 7200),
        ("1h30m", 5400),
        ("500ms", 0.5),
        ("1d", 86400),
        ("1d2h3m4s5ms", 93784.005),
        ("1.5h", 5400),
        (" 45 ", 45),
        ("0", 0),
        (12, 12),
        (2.5, 2.5),
    ],
)
def test_valid_durations(text: str | int | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text", ["", "h", "5 parsecs", "1h 30m", "-5s", "30m1h", "1m1m", "5sec", True, -1, float("nan")]
)
def test_invalid_durations(text: str | int | float) -> None:
    with pytest.raises(SpecError, match="expected a duration"):
        parse_duration(text)


UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}


@given(st.lists(st.integers(0, 60), min_size=5, max_size=5))
def test_composed_durations_add_up(amounts: list[int]) -> None:
    parts = list(zip(amounts, UNIT_SECONDS, strict=True))
    text = "".join(f"{amount}{unit}" for amount, unit in parts)
    expected = sum(amount * UNIT_SECONDS[unit] for amount, unit in parts)
    assert parse_duration(text) == pytest.approx(expected)


def test_durations_longer_than_a_year_are_refused() -> None:
    assert parse_duration("366d") == 366 * 86400
    with pytest.raises(SpecError, match="at most 366d"):
        parse_duration("99999999999999d")
