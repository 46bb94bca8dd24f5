"""simulator.calendar: holidays, adjusted workdays and shift patterns."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from simulator.calendar import (
    CN_HOLIDAYS,
    CONTINUOUS,
    THREE_SHIFT,
    TWO_SHIFT,
    DayType,
    day_type,
)
from tests.simulator.oracle import SHANGHAI


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 2, 17), DayType.HOLIDAY),  # Spring Festival
        (date(2026, 2, 14), DayType.WORKDAY),  # Saturday worked to bridge it
        (date(2026, 10, 1), DayType.HOLIDAY),
        (date(2026, 9, 20), DayType.WORKDAY),  # Sunday worked
        (date(2025, 1, 26), DayType.WORKDAY),
        (date(2027, 2, 8), DayType.HOLIDAY),  # estimated 2027 Spring Festival
        (date(2026, 11, 18), DayType.WORKDAY),
        (date(2026, 11, 21), DayType.SATURDAY),
        (date(2026, 11, 22), DayType.SUNDAY),
    ],
)
def test_day_types(day: date, expected: DayType) -> None:
    assert day_type(day) is expected


def test_other_countries_only_have_weekends() -> None:
    assert day_type(date(2026, 10, 1), country="DE") is DayType.WORKDAY


def test_every_year_has_the_big_holidays() -> None:
    for year in (2025, 2026, 2027):
        days = [d for d in CN_HOLIDAYS if d.year == year]
        assert len(days) >= 25
        assert any(d.month == 10 and d.day == 1 for d in days)


def test_three_shift_runs_mon_sat_with_a_lighter_sunday() -> None:
    wednesday = datetime(2026, 11, 18, 10, tzinfo=SHANGHAI)
    sunday = datetime(2026, 11, 22, 10, tzinfo=SHANGHAI)
    assert THREE_SHIFT.level(wednesday) == pytest.approx(1.0)
    assert 0 < THREE_SHIFT.level(sunday) < THREE_SHIFT.level(wednesday)
    assert THREE_SHIFT.level(sunday.replace(hour=3)) == 0
    assert THREE_SHIFT.level(datetime(2026, 10, 2, 10, tzinfo=SHANGHAI)) == 0  # holiday
    assert THREE_SHIFT.daily_share(date(2026, 11, 22)) < THREE_SHIFT.daily_share(date(2026, 11, 18))


def test_shift_start_ramps_up() -> None:
    start = datetime(2026, 11, 18, 8, tzinfo=SHANGHAI)
    assert THREE_SHIFT.level(start) < THREE_SHIFT.level(start + timedelta(minutes=30))


def test_running_since_follows_runs_across_midnight() -> None:
    # the week's run starts on Monday 00:00 after the Sunday day shift ended
    thursday = datetime(2026, 11, 19, 10, tzinfo=SHANGHAI)
    assert THREE_SHIFT.running_since(thursday) == datetime(2026, 11, 16, 0, tzinfo=SHANGHAI)
    sunday = datetime(2026, 11, 22, 12, tzinfo=SHANGHAI)
    assert THREE_SHIFT.running_since(sunday) == datetime(2026, 11, 22, 8, tzinfo=SHANGHAI)
    assert THREE_SHIFT.running_since(sunday.replace(hour=20)) is None
    assert TWO_SHIFT.running_since(thursday.replace(hour=2)) is None
    assert CONTINUOUS.running_since(thursday) is not None
