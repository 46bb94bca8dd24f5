"""Rollup buckets kept by GreenPulse: UTC hours and site-local days.

A reading at ``t`` carries the quantity of ``(previous reading, t]`` (interval-ending, as
meters timestamp their intervals), so a reading exactly on the hour belongs to the hour
that ends there.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.db.models import ReadingRow, RollupRow
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
    local = (time - _EPSILON).astimezone(zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone)
    return midnight.astimezone(UTC)


def rebuild_rollups(session: Session, meter_id: str, zone: ZoneInfo) -> int:
    """Recompute a meter's rollups from its readings (repair, or after a configuration change).

    Returns the number of buckets written.
    """
    session.execute(delete(RollupRow).where(RollupRow.meter_id == meter_id))
    totals: dict[tuple[str, datetime], list[float]] = {}
    rows = session.execute(
        select(ReadingRow.time, ReadingRow.quantity, ReadingRow.quality)
        .where(ReadingRow.meter_id == meter_id, ReadingRow.quantity.is_not(None))
        .order_by(ReadingRow.time)
    )
    for time, quantity, quality in rows:
        if quantity is None:  # filtered in SQL; keeps the type checker honest
            continue
        aware = time if time.tzinfo else time.replace(tzinfo=UTC)
        estimated = 1 if quality & Quality.ESTIMATED else 0
        for key in ((HOUR, hour_bucket(aware)), (DAY, day_bucket(aware, zone))):
            acc = totals.setdefault(key, [0.0, 0, 0])
            acc[0] += quantity
            acc[1] += 1
            acc[2] += estimated
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


def rollup_total(
    session: Session, meter_ids: list[str], resolution: str, start: datetime, end: datetime
) -> float:
    """Sum of rollup quantities for the meters over buckets starting in ``[start, end)``."""
    if not meter_ids:
        return 0.0
    total = session.scalar(
        select(func.coalesce(func.sum(RollupRow.quantity), 0.0)).where(
            RollupRow.meter_id.in_(meter_ids),
            RollupRow.resolution == resolution,
            RollupRow.bucket_start >= start,
            RollupRow.bucket_start < end,
        )
    )
    return float(total or 0.0)
