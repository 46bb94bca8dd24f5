"""Reads of the history: GreenPulse's rollups, and raw readings for the finest zooms.

Every rollup read goes through ``rollup_sums``; ``FINE_RESOLUTION`` names the finest
rollup kept (the 15-minute buckets). Functions take a session and never commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import DateTime, case, func, select, type_coerce
from sqlalchemy.orm import Session

from app.db.models import ReadingRow, RollupRow
from app.db.rollups import DAY, FIFTEEN

FINE_RESOLUTION: Final[str] = FIFTEEN
DAY_RESOLUTION: Final[str] = DAY


def rollup_sums(
    session: Session,
    groups: Mapping[str, str],
    resolution: str,
    start: datetime,
    end: datetime,
) -> list[tuple[str, datetime, float]]:
    """Rollup quantity per (group, bucket) for buckets starting in ``[start, end)``.

    Args:
        groups: meter id → the group its quantity adds to (a resource, or the meter).
        resolution: a rollup resolution (``FINE_RESOLUTION`` or ``DAY_RESOLUTION``).

    Returns:
        ``(group, bucket_start, quantity)`` rows, summed in the database.
    """
    if not groups:
        return []
    label = case(dict(groups), value=RollupRow.meter_id).label("grp")
    bucket: Any = RollupRow.bucket_start
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # timestamptz arrives aware from psycopg: skip the per-row conversion (hot path)
        bucket = type_coerce(RollupRow.bucket_start, DateTime(timezone=True))
    rows = connection.execute(
        select(label, bucket, func.sum(RollupRow.quantity))
        .where(
            RollupRow.meter_id.in_(list(groups)),
            RollupRow.resolution == resolution,
            RollupRow.bucket_start >= start,
            RollupRow.bucket_start < end,
        )
        .group_by(label, RollupRow.bucket_start)
    ).all()
    return [(str(g), b, float(q)) for g, b, q in rows]


def readings_between(
    session: Session, meter_ids: Sequence[str], start: datetime, end: datetime
) -> list[tuple[str, datetime, float | None]]:
    """Raw readings ``(meter, time, quantity)`` with ``start < time <= end``, by meter and time."""
    if not meter_ids:
        return []
    rows = session.execute(
        select(ReadingRow.meter_id, ReadingRow.time, ReadingRow.quantity)
        .where(
            ReadingRow.meter_id.in_(list(meter_ids)),
            ReadingRow.time > start,
            ReadingRow.time <= end,
        )
        .order_by(ReadingRow.meter_id, ReadingRow.time)
    ).all()
    return [(m, t, q) for m, t, q in rows]


def lookback(expected_interval_s: float) -> timedelta:
    """How far before a range to read so its first reading has its predecessor."""
    return timedelta(seconds=max(expected_interval_s * 3, 60))
