"""Zoom levels of the history: output buckets, where each zoom is read from, period shifts.

Pure: instants in UTC, the site's zone passed in. Weeks start on the local Monday
(ISO 8601); days, weeks, months and years are site-local (``app.domain.periods``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo

from app.domain.periods import day_bounds, hour_bounds, local_date, month_bounds, year_bounds

Zoom = Literal["minute", "15min", "hour", "day", "week", "month", "year"]
ZOOMS: Final[tuple[Zoom, ...]] = ("minute", "15min", "hour", "day", "week", "month", "year")
FIXED_WIDTH: Final[dict[str, timedelta]] = {
    "minute": timedelta(minutes=1),
    "15min": timedelta(minutes=15),
}
# hours are the site's local hours (Asia/Kolkata's start at half past UTC), as "this hour"
# the longest range each zoom answers (beyond it: a coarser zoom, or the CSV export)
MAX_RANGE: Final[dict[str, timedelta]] = {
    "minute": timedelta(days=3),
    "15min": timedelta(days=93),
    "hour": timedelta(days=400),
    "day": timedelta(days=3700),
    "week": timedelta(days=3700),
    "month": timedelta(days=36600),
    "year": timedelta(days=36600),
}
DEFAULT_RANGE: Final[dict[str, timedelta]] = {
    "minute": timedelta(hours=2),
    "15min": timedelta(days=1),
    "hour": timedelta(days=2),
    "day": timedelta(days=31),
    "week": timedelta(weeks=12),
    "month": timedelta(days=366),
    "year": timedelta(days=5 * 366),
}
Comparison = Literal["previous", "year_before"]
NamedPeriod = Literal["today", "this_week", "this_month", "this_year"]


def bucket_of(zoom: Zoom, moment: datetime, zone: ZoneInfo) -> datetime:
    """Start (UTC) of the ``zoom`` bucket containing ``moment``."""
    t = moment.astimezone(UTC)
    if zoom in FIXED_WIDTH:
        width = int(FIXED_WIDTH[zoom].total_seconds())
        epoch = int(t.timestamp())
        return datetime.fromtimestamp(epoch - epoch % width, UTC)
    if zoom == "hour":
        return hour_bounds(t, zone)[0]
    day = local_date(t, zone)
    if zoom == "day":
        return day_bounds(day, zone)[0]
    if zoom == "week":
        return day_bounds(day - timedelta(days=day.weekday()), zone)[0]
    if zoom == "month":
        return month_bounds(day.year, day.month, zone)[0]
    return year_bounds(day.year, zone)[0]


def next_bucket(zoom: Zoom, start: datetime, zone: ZoneInfo) -> datetime:
    """Start of the bucket after the one starting at ``start``."""
    if zoom in FIXED_WIDTH:
        return start + FIXED_WIDTH[zoom]
    if zoom == "hour":
        return hour_bounds(start, zone)[1]
    day = local_date(start, zone)
    if zoom == "day":
        return day_bounds(day, zone)[1]
    if zoom == "week":
        return day_bounds(day + timedelta(days=6), zone)[1]
    if zoom == "month":
        return month_bounds(day.year, day.month, zone)[1]
    return year_bounds(day.year, zone)[1]


def buckets_between(
    zoom: Zoom, start: datetime, end: datetime, zone: ZoneInfo
) -> Iterator[datetime]:
    """Every ``zoom`` bucket start from the one holding ``start`` to the last before ``end``."""
    b = bucket_of(zoom, start, zone)
    while b < end:
        yield b
        b = next_bucket(zoom, b, zone)


def align(zoom: Zoom, start: datetime, end: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Widen ``[start, end)`` to whole ``zoom`` buckets."""
    first = bucket_of(zoom, start, zone)
    last = bucket_of(zoom, end - timedelta(microseconds=1), zone)
    return first, next_bucket(zoom, last, zone)


def named_period(name: NamedPeriod, now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Today, this week, this month or this year at the site, as UTC ``[start, end)``."""
    zoom: Zoom = {"today": "day", "this_week": "week", "this_month": "month"}.get(  # type: ignore[assignment]
        name, "year"
    )
    start = bucket_of(zoom, now, zone)
    return start, next_bucket(zoom, start, zone)


def _wall(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)


def _at_wall(wall: datetime, zone: ZoneInfo) -> datetime:
    return wall.replace(tzinfo=zone).astimezone(UTC)


def _minus_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def _is_month_start(wall: datetime) -> bool:
    return wall.day == 1 and wall.time() == datetime.min.time()


def shift_back(
    kind: Comparison, start: datetime, end: datetime, zone: ZoneInfo
) -> tuple[datetime, datetime]:
    """The range to compare ``[start, end)`` with.

    ``previous``: the range just before, of the same calendar length (last week for a
    week, last month for a month: whole local months shift by months, whole local days
    by days, anything else by its duration). ``year_before``: the same wall-clock range
    one local year earlier (this month against the same month last year).
    """
    ws, we = _wall(start, zone), _wall(end, zone)
    if kind == "year_before":
        return _at_wall(_year_earlier(ws), zone), _at_wall(_year_earlier(we), zone)
    if _is_month_start(ws) and _is_month_start(we):
        months = (we.year - ws.year) * 12 + we.month - ws.month
        first = _minus_months(ws.date(), months)
        return _at_wall(datetime(first.year, first.month, 1), zone), start
    midnight = datetime.min.time()
    if ws.time() == midnight and we.time() == midnight:
        days = (we.date() - ws.date()).days
        return _at_wall(ws - timedelta(days=days), zone), start
    return start - (end - start), start


def _year_earlier(wall: datetime) -> datetime:
    try:
        return wall.replace(year=wall.year - 1)
    except ValueError:  # 29 February
        return wall.replace(year=wall.year - 1, day=28)
