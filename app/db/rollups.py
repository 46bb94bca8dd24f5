"""Rollup buckets kept by GreenPulse: 15-minute UTC buckets and site-local days.

A reading at ``t`` carries the quantity of ``(previous reading, t]`` (interval-ending, as
meters timestamp their intervals). Its quantity is spread over the buckets that interval
spans in proportion to time (a constant rate within the interval), so a 10:17 reading
for 10:12-10:17 puts three fifths in the 10:00 bucket and two fifths in the 10:15 one, and
six hours of energy after a silent meter are not piled into one bucket. The reading counts
as one sample in the bucket where it ends.

Every UTC offset in use is a whole number of 15 minutes, so every site-local hour, day,
month and year is an exact union of 15-minute buckets (``app.domain.periods``): "this
hour" in Asia/Kolkata is four buckets from 04:30 UTC, a DST fall-back hour is four
buckets, never eight. The day rows are the sum of their buckets, kept for long periods.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.db.models import MeterRow, ReadingRow, RollupRow, SiteRow
from app.domain.periods import (
    BUCKET,
    BUCKET_RESOLUTION,
    DAY_RESOLUTION,
    bucket_and_day,
    bucket_and_day_us,
    interval_start,
    spread_rollups,
)
from app.domain.registers import Quality

FIFTEEN = BUCKET_RESOLUTION  # "15min"
DAY = DAY_RESOLUTION  # "day"
RESOLUTIONS = (FIFTEEN, DAY)

__all__ = [
    "DAY",
    "FIFTEEN",
    "bucket_starts",
    "buckets",
    "hour_sums",
    "interval_start",
    "rebuild_all_rollups",
    "rebuild_rollups",
    "spread",
]


def buckets(time: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The 15-minute bucket and the site-local day an interval ending at ``time`` belongs to."""
    return bucket_and_day(time, zone)


def bucket_starts(
    time_us: NDArray[np.int64], zone: ZoneInfo
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """``buckets`` for many interval ends at once, in microseconds (the day lookup is cached)."""
    return bucket_and_day_us(time_us, zone)


def spread(
    since: datetime, until: datetime, quantity: float, zone: ZoneInfo
) -> list[tuple[str, datetime, float]]:
    """Shares of ``quantity`` per (resolution, bucket) for the interval ``(since, until]``."""
    bucket, day = buckets(until, zone)
    if since >= bucket:  # the usual case: the interval sits in one bucket (so in one day)
        return [(FIFTEEN, bucket, quantity), (DAY, day, quantity)]
    return spread_rollups(since, until, quantity, zone)


def hour_sums(
    session: Session, meter_ids: Sequence[str], start: datetime, end: datetime
) -> dict[str, dict[datetime, float]]:
    """Quantity per meter and UTC hour in ``[start, end)``, summed from the 15-minute rows.

    An hour appears only when at least one of its buckets has a row.
    """
    out: dict[str, dict[datetime, float]] = defaultdict(dict)
    if not meter_ids:
        return out
    rows = session.execute(
        select(RollupRow.meter_id, RollupRow.bucket_start, RollupRow.quantity).where(
            RollupRow.meter_id.in_(sorted(meter_ids)),
            RollupRow.resolution == FIFTEEN,
            RollupRow.bucket_start >= start,
            RollupRow.bucket_start < end,
        )
    )
    for meter_id, bucket, quantity in rows:
        hour = bucket.replace(minute=0, second=0, microsecond=0)
        series = out[meter_id]
        series[hour] = series.get(hour, 0.0) + float(quantity)
    return out


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
            fine, day = buckets(time, zone)
            for key in ((FIFTEEN, fine), (DAY, day)):
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


def rebuild_all_rollups(session: Session, meter_ids: Iterable[str] | None = None) -> int:
    """Rebuild the rollups of every meter (or of ``meter_ids``) from the stored readings.

    The data path of the move to 15-minute buckets, and a repair after a plant change.
    Returns the number of buckets written.
    """
    query = select(MeterRow.id, MeterRow.expected_interval_s, SiteRow.timezone).join(
        SiteRow, SiteRow.id == MeterRow.site_id
    )
    if meter_ids is not None:
        query = query.where(MeterRow.id.in_(list(meter_ids)))
    written = 0
    for meter_id, interval_s, timezone in session.execute(query).all():
        written += rebuild_rollups(session, meter_id, ZoneInfo(timezone), interval_s)
    return written


def bucket_end(bucket: datetime) -> datetime:
    """The end of a 15-minute bucket."""
    return bucket + BUCKET
