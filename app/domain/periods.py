"""Reporting periods in the site's local time: this hour, today, this year."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Period:
    """``[start, end)`` as UTC instants; ``resolution`` names the rollup that tiles it."""

    name: str
    start: datetime
    end: datetime
    resolution: str


def current_periods(now: datetime, zone: ZoneInfo) -> dict[str, Period]:
    """The hour, day and year containing ``now`` in the site's timezone."""
    local = now.astimezone(zone)
    hour = local.replace(minute=0, second=0, microsecond=0)
    day = datetime(local.year, local.month, local.day, tzinfo=zone)
    next_day = _local_midnight(day + timedelta(days=1, hours=2), zone)
    year = datetime(local.year, 1, 1, tzinfo=zone)
    next_year = datetime(local.year + 1, 1, 1, tzinfo=zone)
    return {
        "hour": Period(
            "hour", hour.astimezone(UTC), (hour + timedelta(hours=1)).astimezone(UTC), "hour"
        ),
        "today": Period("today", day.astimezone(UTC), next_day.astimezone(UTC), "day"),
        "year": Period("year", year.astimezone(UTC), next_year.astimezone(UTC), "day"),
    }


def _local_midnight(moment: datetime, zone: ZoneInfo) -> datetime:
    local = moment.astimezone(zone)
    return datetime(local.year, local.month, local.day, tzinfo=zone)


def hours_back(now: datetime, count: int) -> list[datetime]:
    """Start instants (UTC) of the ``count`` whole hours up to and including the current one."""
    top = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return [top - timedelta(hours=i) for i in range(count - 1, -1, -1)]
