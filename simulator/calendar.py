"""Working calendars: Chinese public holidays and shift patterns, as tables.

A day is a workday, a Saturday, a Sunday or a public holiday. Chinese "adjusted
working days" (调休: a weekend day worked to bridge a holiday) count as
workdays. 2025 and 2026 follow the State Council notices; 2027 is not yet
published and is estimated from the lunar dates (no adjusted working days).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from types import MappingProxyType
from typing import Final


class DayType(StrEnum):
    WORKDAY = "workday"
    SATURDAY = "saturday"
    SUNDAY = "sunday"
    HOLIDAY = "holiday"


def _days(first: str, last: str | None = None) -> list[date]:
    start = date.fromisoformat(first)
    end = date.fromisoformat(last) if last else start
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


_CN_HOLIDAY_RANGES: Final = (
    # 2025 (国办发明电〔2024〕12号)
    ("New Year", "2025-01-01", None),
    ("Spring Festival", "2025-01-28", "2025-02-04"),
    ("Qingming", "2025-04-04", "2025-04-06"),
    ("Labour Day", "2025-05-01", "2025-05-05"),
    ("Dragon Boat", "2025-05-31", "2025-06-02"),
    ("National Day and Mid-Autumn", "2025-10-01", "2025-10-08"),
    # 2026 (国办发明电〔2025〕7号)
    ("New Year", "2026-01-01", "2026-01-03"),
    ("Spring Festival", "2026-02-15", "2026-02-23"),
    ("Qingming", "2026-04-04", "2026-04-06"),
    ("Labour Day", "2026-05-01", "2026-05-05"),
    ("Dragon Boat", "2026-06-19", "2026-06-21"),
    ("Mid-Autumn", "2026-09-25", "2026-09-27"),
    ("National Day", "2026-10-01", "2026-10-07"),
    # 2027: estimated from the lunar calendar until the notice is published
    ("New Year", "2027-01-01", "2027-01-03"),
    ("Spring Festival", "2027-02-05", "2027-02-12"),
    ("Qingming", "2027-04-03", "2027-04-05"),
    ("Labour Day", "2027-05-01", "2027-05-05"),
    ("Dragon Boat", "2027-06-09", None),
    ("Mid-Autumn", "2027-09-15", None),
    ("National Day", "2027-10-01", "2027-10-07"),
)

CN_HOLIDAYS: Final[Mapping[date, str]] = MappingProxyType(
    {day: name for name, first, last in _CN_HOLIDAY_RANGES for day in _days(first, last)}
)

CN_ADJUSTED_WORKDAYS: Final = frozenset(
    date.fromisoformat(d)
    for d in (
        "2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11",
        "2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10",
    )
)  # fmt: skip


def day_type(day: date, country: str = "CN") -> DayType:
    """What kind of day ``day`` is for a plant in ``country`` (holidays known for CN only)."""
    if country == "CN":
        if day in CN_HOLIDAYS:
            return DayType.HOLIDAY
        if day in CN_ADJUSTED_WORKDAYS:
            return DayType.WORKDAY
    weekday = day.weekday()
    if weekday == 5:
        return DayType.SATURDAY
    if weekday == 6:
        return DayType.SUNDAY
    return DayType.WORKDAY


@dataclass(frozen=True)
class Shift:
    """A period of a day (local hours, ``end_h`` up to 24) run at ``level`` of full rate."""

    start_h: float
    end_h: float
    level: float


@dataclass(frozen=True, eq=False)  # identity hash: patterns are table constants, keyed per tick
class ShiftPattern:
    """Which shifts run on each kind of day.

    ``ramp_min``: after each shift start the line climbs from 60 % to its level
    over this many minutes (start-up, changeover).
    """

    name: str
    workday: tuple[Shift, ...]
    saturday: tuple[Shift, ...]
    sunday: tuple[Shift, ...]
    holiday: tuple[Shift, ...]
    ramp_min: float = 0.0

    def shifts(self, kind: DayType) -> tuple[Shift, ...]:
        return {
            DayType.WORKDAY: self.workday,
            DayType.SATURDAY: self.saturday,
            DayType.SUNDAY: self.sunday,
            DayType.HOLIDAY: self.holiday,
        }[kind]

    def level(self, local: datetime, country: str = "CN") -> float:
        """Scheduled fraction of full rate at a local wall-clock time."""
        hour = local.hour + local.minute / 60 + local.second / 3600
        for shift in _shifts_on(self, local.date(), country):
            if shift.start_h <= hour < shift.end_h:
                if self.ramp_min <= 0:
                    return shift.level
                ramp = min(1.0, (hour - shift.start_h) * 60 / self.ramp_min)
                return shift.level * (0.6 + 0.4 * ramp)
        return 0.0

    def daily_share(self, day: date, country: str = "CN") -> float:
        """Scheduled output of a day as a fraction of 24 h at full rate."""
        return _daily_share(self, day, country)

    def running_since(self, local: datetime, country: str = "CN") -> datetime | None:
        """Start of the uninterrupted run that ``local`` is in (``None``: not running)."""
        hour = local.hour + local.minute / 60 + local.second / 3600
        day = local.date()
        start = _run_start(self, day, hour, country)
        if start is None:
            return None
        for _ in range(14):  # follow runs back across midnight, at most two weeks
            if start > 0:
                break
            previous = day - timedelta(days=1)
            earlier = _run_start(self, previous, 24.0, country)
            if earlier is None:
                break
            day, start = previous, earlier
        midnight = datetime.combine(day, time(0), tzinfo=local.tzinfo)
        return midnight + timedelta(hours=start)


@lru_cache(maxsize=4096)
def _shifts_on(pattern: ShiftPattern, day: date, country: str) -> tuple[Shift, ...]:
    return pattern.shifts(day_type(day, country))


@lru_cache(maxsize=4096)
def _daily_share(pattern: ShiftPattern, day: date, country: str) -> float:
    shifts = pattern.shifts(day_type(day, country))
    return sum((s.end_h - s.start_h) * s.level for s in shifts) / 24


@lru_cache(maxsize=4096)
def _merged_runs(pattern: ShiftPattern, day: date, country: str) -> tuple[tuple[float, float], ...]:
    runs: list[tuple[float, float]] = []
    for shift in sorted(pattern.shifts(day_type(day, country)), key=lambda s: s.start_h):
        if shift.level <= 0:
            continue
        if runs and runs[-1][1] >= shift.start_h:
            runs[-1] = (runs[-1][0], max(runs[-1][1], shift.end_h))
        else:
            runs.append((shift.start_h, shift.end_h))
    return tuple(runs)


def _run_start(pattern: ShiftPattern, day: date, hour: float, country: str) -> float | None:
    """Start hour of the run containing ``hour`` (24.0 asks: does a run end at midnight?)."""
    for start, end in _merged_runs(pattern, day, country):
        if start <= hour < end or (hour == 24.0 and end == 24.0):
            return start
    return None


_FULL_DAY = (Shift(0, 24, 1.0),)
_THREE = (Shift(0, 8, 0.85), Shift(8, 16, 1.0), Shift(16, 24, 0.95))

THREE_SHIFT: Final = ShiftPattern(
    name="three-shift",
    workday=_THREE,
    saturday=_THREE,
    sunday=(Shift(8, 16, 0.5),),  # a lighter Sunday: one day shift at half rate
    holiday=(),
    ramp_min=20,
)
TWO_SHIFT: Final = ShiftPattern(
    name="two-shift",
    workday=(Shift(8, 16, 1.0), Shift(16, 24, 0.9)),
    saturday=(Shift(8, 16, 0.8),),
    sunday=(),
    holiday=(),
    ramp_min=20,
)
CONTINUOUS: Final = ShiftPattern(
    name="continuous",
    workday=_FULL_DAY,
    saturday=_FULL_DAY,
    sunday=_FULL_DAY,
    holiday=_FULL_DAY,
)
OFFICE_HOURS: Final = ShiftPattern(
    name="office",
    workday=(Shift(8, 12, 1.0), Shift(12, 13, 0.7), Shift(13, 18, 1.0)),
    saturday=(Shift(9, 13, 0.3),),
    sunday=(),
    holiday=(),
)
_MEALS = (Shift(6, 8, 0.5), Shift(10.5, 12.5, 1.0), Shift(16.5, 18.5, 0.9), Shift(23, 24, 0.4))
CANTEEN_MEALS: Final = ShiftPattern(
    name="canteen",
    workday=_MEALS,
    saturday=_MEALS,
    sunday=(Shift(10.5, 12.5, 0.5), Shift(16.5, 18.5, 0.4)),
    holiday=(Shift(11, 12.5, 0.15),),
)
