"""The one read of metered quantities behind every energy figure.

Energy figures read the rollups through ``rollup_buckets`` only (certificates come from
the carbon feature's registry), so the bucket resolution they use is one constant
(``ENERGY_RESOLUTION``: the rollups' 15-minute buckets) and one parameter.
Plain queries on a session the caller owns; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import RollupRow
from app.db.rollups import FIFTEEN

ENERGY_RESOLUTION = FIFTEEN
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
