"""The one read of metered quantities behind every energy figure.

Energy figures read the rollups through ``rollup_buckets`` only (certificates
through ``certificates``), so the bucket
resolution they use is one constant (``ENERGY_RESOLUTION``) and one parameter.
Plain queries on a session the caller owns; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import GreenCertificateRow, RollupRow

ENERGY_RESOLUTION = "hour"
"""The rollup resolution energy figures are computed from (cost needs buckets within ToU bands)."""


def rollup_buckets(
    session: Session,
    meter_ids: Sequence[str],
    start: datetime,
    end: datetime,
    resolution: str = ENERGY_RESOLUTION,
) -> list[tuple[str, datetime, float]]:
    """(meter, bucket start, quantity) of the buckets starting in ``[start, end)``, by time."""
    if not meter_ids or end <= start:
        return []
    rows = session.execute(
        select(RollupRow.meter_id, RollupRow.bucket_start, RollupRow.quantity)
        .where(
            RollupRow.meter_id.in_(list(meter_ids)),
            RollupRow.resolution == resolution,
            RollupRow.bucket_start >= start,
            RollupRow.bucket_start < end,
        )
        .order_by(RollupRow.bucket_start)
    ).all()
    return [(meter_id, bucket, float(quantity)) for meter_id, bucket, quantity in rows]


def certificates(
    session: Session, site_id: str, first_day: date, last_day: date
) -> Sequence[GreenCertificateRow]:
    """The site's certificates whose period overlaps these site-local days."""
    return session.scalars(
        select(GreenCertificateRow).where(
            GreenCertificateRow.site_id == site_id,
            GreenCertificateRow.period_start <= last_day,
            GreenCertificateRow.period_end > first_day,
        )
    ).all()
