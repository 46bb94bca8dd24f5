"""The reads behind the live figures: rollups and meter state.

Plain queries on a session the caller owns; nothing here commits. Instruments are
read through ``app.carbon.store``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.models import MeterStateRow, RollupRow
from app.db.rollups import DAY, FIFTEEN

Series = Sequence[tuple[datetime, Decimal]]


def exact(value: float) -> Decimal:
    """A stored float as the shortest decimal that round-trips it."""
    return Decimal(repr(float(value)))


def series(
    session: Session, meter_ids: list[str], start: datetime, end: datetime, *, days: bool
) -> dict[str, Series]:
    """(bucket or local-day start, quantity) per meter in ``[start, end)``, in time order.

    ``days`` reads the local-day rows (``start`` and ``end`` must be local day starts),
    otherwise the 15-minute rows.
    """
    out: dict[str, list[tuple[datetime, Decimal]]] = defaultdict(list)
    if not meter_ids or end <= start:
        return dict(out)
    rows = session.execute(
        select(RollupRow.meter_id, RollupRow.bucket_start, RollupRow.quantity)
        .where(
            RollupRow.meter_id.in_(meter_ids),
            RollupRow.resolution == (DAY if days else FIFTEEN),
            RollupRow.bucket_start >= start,
            RollupRow.bucket_start < end,
        )
        .order_by(RollupRow.bucket_start)
    )
    for meter_id, bucket, quantity in rows:
        out[meter_id].append((bucket, exact(quantity)))
    return dict(out)


def estimated_samples(
    session: Session, meter_ids: list[str], start: datetime, end: datetime
) -> int:
    """Samples flagged estimated in the 15-minute buckets of ``[start, end)``."""
    if not meter_ids:
        return 0
    total = session.scalar(
        select(func.coalesce(func.sum(RollupRow.estimated), 0)).where(
            RollupRow.meter_id.in_(meter_ids),
            RollupRow.resolution == FIFTEEN,
            RollupRow.bucket_start >= start,
            RollupRow.bucket_start < end,
        )
    )
    return int(total or 0)


def meter_states(session: Session, meter_ids: list[str]) -> dict[str, MeterStateRow]:
    """The newest reading of each meter that has one."""
    return {
        s.meter_id: s
        for s in session.scalars(select(MeterStateRow).where(MeterStateRow.meter_id.in_(meter_ids)))
    }
