"""Rollup buckets kept by GreenPulse: UTC hours and site-local days.

A reading at ``t`` carries the quantity of ``(previous reading, t]`` (interval-ending, as
meters timestamp their intervals). Its quantity is spread over the buckets that interval
spans in proportion to time (a constant rate within the interval), so a 10:02 reading
for 09:57-10:02 puts three fifths in the 09:00 hour and two fifths in the 10:00 hour, and
six hours of energy after a silent meter are not piled into one hour. The reading counts
as one sample in the bucket where it ends.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.db.models import ReadingRow, RollupRow
from app.domain.register_runs import from_micros, micros
from app.domain.registers import Quality

HOUR = "hour"
DAY = "day"
_EPSILON = timedelta(microseconds=1)


def hour_bucket(time: datetime) -> datetime:
    """Start (UTC) of the hour an interval ending at ``time`` belongs to."""
    t = (time - _EPSILON).astimezone(UTC)
    return t.replace(minute=0, second=0, microsecond=0)


def day_bucket(time: datetime, zone: ZoneInfo) -> datetime:
    """Start (as a UTC instant) of the site-local day an interval ending at ``time`` belongs to."""
    return buckets(time, zone)[1]


def buckets(time: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The hour and the site-local day an interval ending at ``time`` belongs to."""
    t = time - _EPSILON
    if t.tzinfo is not UTC:
        t = t.astimezone(UTC)
    hour = t.replace(minute=0, second=0, microsecond=0)
    start, end = _day_window(hour, zone)
    # an hour holds at most one local midnight (half-hour zones put it mid-hour)
    return hour, start if t < end else end


HOUR_US = 3_600_000_000


def bucket_starts(
    time_us: NDArray[np.int64], zone: ZoneInfo
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """``buckets`` for many interval ends at once, in microseconds since the epoch."""
    t = time_us - 1  # the interval (since, time] belongs where time - epsilon lies
    hour = t - t % HOUR_US
    hours, inverse = np.unique(hour, return_inverse=True)
    windows = [_day_window(from_micros(h), zone) for h in hours.tolist()]
    start = np.array([micros(w[0]) for w in windows], np.int64)[inverse]
    end = np.array([micros(w[1]) for w in windows], np.int64)[inverse]
    return hour, np.where(t < end, start, end)


@lru_cache(maxsize=8192)
def _day_window(hour_start: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The local day containing ``hour_start``, as UTC instants [start, end) (hot path: cached)."""
    local = hour_start.astimezone(zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone)
    return midnight.astimezone(UTC), next_day_start(midnight.astimezone(UTC), zone)


def spread(
    since: datetime, until: datetime, quantity: float, zone: ZoneInfo
) -> list[tuple[str, datetime, float]]:
    """Shares of ``quantity`` per (resolution, bucket) for the interval ``(since, until]``."""
    hour, day = buckets(until, zone)
    if since >= hour and since >= day:  # the usual case: the interval sits in one hour
        return [(HOUR, hour, quantity), (DAY, day, quantity)]
    total_s = (until - since).total_seconds()
    shares: list[tuple[str, datetime, float]] = []
    for resolution, bucket_of, step in (
        (HOUR, hour_bucket, _next_hour),
        (DAY, lambda t: day_bucket(t, zone), lambda b: next_day_start(b, zone)),
    ):
        start = since
        while start < until:
            bucket = bucket_of(start + _EPSILON)
            end = min(step(bucket), until)
            shares.append((resolution, bucket, quantity * (end - start).total_seconds() / total_s))
            start = end
    return shares


def _next_hour(bucket: datetime) -> datetime:
    return bucket + timedelta(hours=1)


def next_day_start(bucket: datetime, zone: ZoneInfo) -> datetime:
    """The start (UTC) of the local day after the one starting at ``bucket``."""
    local = bucket.astimezone(zone) + timedelta(hours=26)  # past any DST change
    return datetime(local.year, local.month, local.day, tzinfo=zone).astimezone(UTC)


def interval_start(
    previous: datetime | None, time: datetime, expected_interval_s: float
) -> datetime:
    """Start of a reading's interval: the previous reading, else one expected interval back."""
    return previous if previous is not None else time - timedelta(seconds=expected_interval_s)


def rebuild_rollups(
    session: Session, meter_id: str, zone: ZoneInfo, expected_interval_s: float
) -> int:
    """Recompute a meter's rollups from its readings (repair, or after a configuration change).

    Returns the number of buckets written.
    """
    session.execute(delete(RollupRow).where(RollupRow.meter_id == meter_id))
    totals: dict[tuple[str, datetime], list[float]] = {}
    rows = session.execute(
        select(ReadingRow.time, ReadingRow.quantity, ReadingRow.quality)
        .where(ReadingRow.meter_id == meter_id)
        .order_by(ReadingRow.time)
    )
    previous: datetime | None = None
    for time, quantity, quality in rows:
        if quantity is not None:
            since = interval_start(previous, time, expected_interval_s)
            for resolution, bucket, share in spread(since, time, quantity, zone):
                totals.setdefault((resolution, bucket), [0.0, 0, 0])[0] += share
            estimated = 1 if quality & Quality.ESTIMATED else 0
            hour, day = buckets(time, zone)
            for key in ((HOUR, hour), (DAY, day)):
                acc = totals.setdefault(key, [0.0, 0, 0])
                acc[1] += 1
                acc[2] += estimated
        previous = time
    session.add_all(
        RollupRow(
            meter_id=meter_id,
            resolution=resolution,
            bucket_start=bucket,
            quantity=acc[0],
            samples=int(acc[1]),
            estimated=int(acc[2]),
        )
        for (resolution, bucket), acc in totals.items()
    )
    session.flush()
    return len(totals)
