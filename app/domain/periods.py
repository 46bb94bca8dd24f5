"""Site-local periods and the 15-minute UTC buckets that tile them.

Every figure is summed over 15-minute UTC buckets ``[b, b + 15 min)``. Every UTC
offset in use today (including Asia/Kolkata's +05:30 and Asia/Kathmandu's
+05:45) is a whole number of 15 minutes and every DST change happens on such a
boundary, so any site-local hour, day, month or year is an exact union of
buckets: no bucket straddles a local period boundary.

Rules (pure; the clock is passed in, instants carry a UTC offset):

* A local **day / month / year** is ``[first instant whose local wall time is
  at or after its first midnight, the same for the next one)``. A spring-forward
  day has 23 hours, a fall-back day 25; a midnight that falls in a DST gap
  starts the day at the transition.
* A local **hour** is the time during which the wall clock shows the same date,
  hour *and* UTC offset. A repeated fall-back hour (Europe/Berlin 02:00–03:00 on
  the last Sunday of October) is therefore **two** local hours of 60 minutes
  each, told apart by their offset (CEST, then CET), never one of two hours.
  Where a change is not a whole hour (Australia/Lord_Howe's 30 minutes) the
  hour it cuts is shorter.
* An interval reading at ``t`` carries the quantity of ``(since, t]``; it is
  spread over the buckets the interval covers in proportion to time
  (``spread_decimal`` exactly, ``spread`` in floats as the rollups do).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Final, Literal
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

BUCKET: Final = timedelta(minutes=15)
BUCKET_US: Final = 900_000_000
BUCKET_RESOLUTION: Final = "15min"
_EPSILON: Final = timedelta(microseconds=1)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_WALK: Final = 4 * 27  # a DST gap or overlap is at most a day (Samoa 2011 skipped one)

PeriodKind = Literal["hour", "day", "month", "year"]
PERIOD_KINDS: Final[tuple[PeriodKind, ...]] = ("hour", "day", "month", "year")


class OffsetNotSupportedError(ValueError):
    """A UTC offset that is not a whole number of 15 minutes (historic local mean time)."""


@dataclass(frozen=True)
class Period:
    """``[start, end)`` as UTC instants; ``resolution`` names the rollup that tiles it."""

    name: str
    start: datetime
    end: datetime
    resolution: str

    def __contains__(self, moment: object) -> bool:
        return isinstance(moment, datetime) and self.start <= moment < self.end

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


def _utc(moment: datetime) -> datetime:
    if moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} needs a UTC offset")
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def bucket_start(moment: datetime) -> datetime:
    """Start (UTC) of the 15-minute bucket containing the instant ``moment``."""
    t = _utc(moment)
    return t.replace(minute=t.minute - t.minute % 15, second=0, microsecond=0)


def interval_bucket(end: datetime) -> datetime:
    """Start (UTC) of the bucket an interval *ending* at ``end`` belongs to (``(since, end]``)."""
    return bucket_start(_utc(end) - _EPSILON)


def interval_buckets_us(end_us: NDArray[np.int64]) -> NDArray[np.int64]:
    """``interval_bucket`` for many interval ends at once, in microseconds since the epoch."""
    t = end_us - 1
    return t - t % BUCKET_US


def buckets_covering(start: datetime, end: datetime) -> list[datetime]:
    """Starts (UTC) of the buckets that intersect ``[start, end)``, in order."""
    return list(iter_buckets(start, end))


def iter_buckets(start: datetime, end: datetime) -> Iterator[datetime]:
    """Lazily, the starts of the buckets that intersect ``[start, end)``."""
    b, stop = bucket_start(start), _utc(end)
    while b < stop:
        yield b
        b += BUCKET


def _check_offset(moment: datetime, zone: ZoneInfo) -> None:
    offset = moment.astimezone(zone).utcoffset()
    if offset is None or offset % BUCKET:
        raise OffsetNotSupportedError(
            f"{zone.key} is at UTC{offset} at {moment.isoformat()}: local periods need an "
            "offset that is a whole number of 15 minutes"
        )


def first_instant_at(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first UTC instant at which the local wall clock reads ``wall`` (naive) or later.

    A repeated wall time gives its first occurrence; one skipped by a DST gap gives
    the transition (the first instant after the gap).
    """
    if wall.tzinfo is not None:
        raise ValueError("first_instant_at takes a naive local wall time")
    candidate = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if candidate.astimezone(zone).replace(tzinfo=None) == wall:
        return candidate
    # in a gap zoneinfo applies the offset before it, landing after the transition
    for _ in range(_MAX_WALK):
        earlier = candidate - BUCKET
        if earlier.astimezone(zone).replace(tzinfo=None) < wall:
            return candidate
        candidate = earlier
    raise OffsetNotSupportedError(f"no transition found near {wall.isoformat()} in {zone.key}")


def local_date(moment: datetime, zone: ZoneInfo) -> date:
    """The site-local calendar date of an instant."""
    return _utc(moment).astimezone(zone).date()


def local_month(moment: datetime, zone: ZoneInfo) -> tuple[int, int]:
    """The site-local (year, month) of an instant."""
    d = local_date(moment, zone)
    return d.year, d.month


def local_year(moment: datetime, zone: ZoneInfo) -> int:
    """The site-local year of an instant."""
    return local_date(moment, zone).year


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The local ``day`` as UTC instants ``[start, end)`` (23, 24 or 25 hours)."""
    return _bounds(datetime(day.year, day.month, day.day), _next_day(day), zone)


def month_bounds(year: int, month: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The local month as UTC instants ``[start, end)``."""
    following = datetime(year + 1, 1, 1) if month == 12 else datetime(year, month + 1, 1)
    return _bounds(datetime(year, month, 1), following, zone)


def year_bounds(year: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The local year as UTC instants ``[start, end)``."""
    return _bounds(datetime(year, 1, 1), datetime(year + 1, 1, 1), zone)


def date_range_bounds(first: date, after_last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Local dates ``[first, after_last)`` as UTC instants."""
    if after_last <= first:
        raise ValueError(f"empty date range {first} … {after_last}")
    return _bounds(
        datetime(first.year, first.month, first.day),
        datetime(after_last.year, after_last.month, after_last.day),
        zone,
    )


def _next_day(day: date) -> datetime:
    following = day + timedelta(days=1)
    return datetime(following.year, following.month, following.day)


def _bounds(wall_start: datetime, wall_end: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start, end = first_instant_at(wall_start, zone), first_instant_at(wall_end, zone)
    _check_offset(start, zone)
    _check_offset(end, zone)
    return start, end


def hour_bounds(moment: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The local hour containing ``moment``: same wall date, hour and UTC offset."""
    now = _utc(moment)
    _check_offset(now, zone)
    local = now.astimezone(zone)
    offset = local.utcoffset()
    into = timedelta(minutes=local.minute, seconds=local.second, microseconds=local.microsecond)
    start = now - into  # wall clock read HH:00 at this offset
    for _ in range(4):  # a change inside the hour (e.g. Lord Howe's 30 minutes) cuts it
        if start.astimezone(zone).utcoffset() == offset:
            break
        start += BUCKET
    end = start - timedelta(minutes=start.astimezone(zone).minute) + timedelta(hours=1)
    b = bucket_start(now) + BUCKET
    while b < end:
        if b.astimezone(zone).utcoffset() != offset:
            return start, b
        b += BUCKET
    return start, end


def local_period(kind: PeriodKind, moment: datetime, zone: ZoneInfo) -> Period:
    """The site-local hour, day, month or year containing ``moment``, tiled by 15-min buckets."""
    if kind == "hour":
        start, end = hour_bounds(moment, zone)
    elif kind == "day":
        start, end = day_bounds(local_date(moment, zone), zone)
    elif kind == "month":
        start, end = month_bounds(*local_month(moment, zone), zone)
    elif kind == "year":
        start, end = year_bounds(local_year(moment, zone), zone)
    else:
        raise ValueError(f"unknown period {kind!r}; use one of {', '.join(PERIOD_KINDS)}")
    return Period(kind, start, end, BUCKET_RESOLUTION)


def local_periods(now: datetime, zone: ZoneInfo) -> dict[str, Period]:
    """This hour, today, this month and this year at the site, keyed as the screen names them."""
    names = {"hour": "hour", "day": "today", "month": "month", "year": "year"}
    return {
        names[kind]: Period(names[kind], p.start, p.end, p.resolution)
        for kind in PERIOD_KINDS
        for p in (local_period(kind, now, zone),)
    }


def spread(since: datetime, until: datetime, quantity: float) -> list[tuple[datetime, float]]:
    """Float shares of ``quantity`` for the interval ``(since, until]`` per bucket, by time.

    The last share takes what is left, so the shares add up to ``quantity`` to
    within one float rounding; use ``spread_decimal`` for exact figures.
    """
    first, last = _utc(since), _utc(until)
    if last <= first:
        return [(interval_bucket(last), quantity)]
    total_us = _micros(last - first)
    shares: list[tuple[datetime, float]] = []
    left, start = quantity, first
    for b in iter_buckets(first, last):
        end = min(b + BUCKET, last)
        share = left if end == last else quantity * _micros(end - start) / total_us
        shares.append((b, share))
        left -= share
        start = end
    return shares


def spread_decimal(
    since: datetime, until: datetime, quantity: Decimal, quantum: Decimal = Decimal("0.000001")
) -> list[tuple[datetime, Decimal]]:
    """Exact shares of ``quantity`` for ``(since, until]`` per bucket, proportional to time.

    Each share is ``quantity × bucket overlap / interval`` rounded half-even to
    ``quantum``, except the last, which takes the rest: the shares always add up
    to ``quantity`` exactly.
    """
    first, last = _utc(since), _utc(until)
    if last <= first:
        return [(interval_bucket(last), quantity)]
    total_us = _micros(last - first)
    shares: list[tuple[datetime, Decimal]] = []
    given, start = Decimal(0), first
    exact = Fraction(quantity)
    for b in iter_buckets(first, last):
        end = min(b + BUCKET, last)
        if end == last:
            share = quantity - given
        else:
            part = exact * _micros(end - start) / total_us
            share = (Decimal(part.numerator) / Decimal(part.denominator)).quantize(
                quantum, ROUND_HALF_EVEN
            )
        shares.append((b, share))
        given += share
        start = end
    return shares


def _micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def to_micros(moment: datetime) -> int:
    """Microseconds since the epoch of an instant."""
    return _micros(_utc(moment) - _EPOCH)


# --- what the rollups need: interval starts and the local day of a bucket ------------


def interval_start(
    previous: datetime | None, time: datetime, expected_interval_s: float
) -> datetime:
    """Start of a reading's interval: the previous reading, else one expected interval back."""
    return previous if previous is not None else time - timedelta(seconds=expected_interval_s)


@lru_cache(maxsize=8192)
def local_day_start(bucket: datetime, zone: ZoneInfo) -> datetime:
    """Start (UTC) of the local day a bucket lies in; a bucket never straddles two days."""
    return day_bounds(local_date(bucket, zone), zone)[0]


def day_starts_us(bucket_us: NDArray[np.int64], zone: ZoneInfo) -> NDArray[np.int64]:
    """``local_day_start`` for many bucket starts, in microseconds since the epoch."""
    unique, inverse = np.unique(bucket_us, return_inverse=True)
    starts = [
        to_micros(local_day_start(_EPOCH + timedelta(microseconds=int(b)), zone))
        for b in unique.tolist()
    ]
    return np.array(starts, np.int64)[inverse]


DAY_RESOLUTION: Final = "day"


def bucket_and_day(end: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The 15-minute bucket and the local day (UTC start) an interval ending at ``end`` is in."""
    bucket = interval_bucket(end)
    return bucket, local_day_start(bucket, zone)


def bucket_and_day_us(
    end_us: NDArray[np.int64], zone: ZoneInfo
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """``bucket_and_day`` for many interval ends, in microseconds since the epoch."""
    bucket = interval_buckets_us(end_us)
    return bucket, day_starts_us(bucket, zone)


def spread_rollups(
    since: datetime, until: datetime, quantity: float, zone: ZoneInfo
) -> list[tuple[str, datetime, float]]:
    """Shares per (resolution, bucket) for ``(since, until]``: 15-minute buckets and local days.

    A day's share is the sum of its buckets' shares, so the two resolutions agree.
    """
    fine = spread(since, until, quantity)
    days: dict[datetime, float] = {}
    for bucket, share in fine:
        day = local_day_start(bucket, zone)
        days[day] = days.get(day, 0.0) + share
    return [(BUCKET_RESOLUTION, b, q) for b, q in fine] + [
        (DAY_RESOLUTION, d, q) for d, q in days.items()
    ]
