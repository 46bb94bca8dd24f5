"""The reads behind the live figures: rollups, meter state, certificates, offsets.

Plain queries on a session the caller owns; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from app.db.models import GreenCertificateRow, MeterStateRow, OffsetRow, RollupRow
from app.db.rollups import HOUR
from app.domain.periods import Period


def rollup_sums(
    session: Session, meter_ids: list[str], period: Period
) -> tuple[dict[str, float], int]:
    """Quantity per meter over the period, and how many samples in it were estimated."""
    rows = session.execute(
        select(RollupRow.meter_id, func.sum(RollupRow.quantity), func.sum(RollupRow.estimated))
        .where(
            RollupRow.meter_id.in_(meter_ids),
            RollupRow.resolution == period.resolution,
            RollupRow.bucket_start >= period.start,
            RollupRow.bucket_start < period.end,
        )
        .group_by(RollupRow.meter_id)
    ).all()
    sums = {meter_id: float(total or 0.0) for meter_id, total, _ in rows}
    return sums, sum(int(est or 0) for _, _, est in rows)


def sum_hours(session: Session, meter_ids: list[str], start: datetime, end: datetime) -> float:
    if not meter_ids or end <= start:
        return 0.0
    total = session.scalar(
        select(func.coalesce(func.sum(RollupRow.quantity), 0.0)).where(
            RollupRow.meter_id.in_(meter_ids),
            RollupRow.resolution == HOUR,
            RollupRow.bucket_start >= start,
            RollupRow.bucket_start < end,
        )
    )
    return float(total or 0.0)


def offsets_kg(session: Session, site_id: str, period: Period) -> float:
    tonnes = session.scalar(
        select(func.coalesce(func.sum(OffsetRow.tonnes_co2e), 0.0)).where(
            OffsetRow.site_id == site_id,
            OffsetRow.retired_on >= period.start.date(),
            OffsetRow.retired_on < period.end.date(),
        )
    )
    return float(tonnes or 0.0) * 1000


def meter_states(session: Session, meter_ids: list[str]) -> dict[str, MeterStateRow]:
    """The newest reading of each meter that has one."""
    return {
        s.meter_id: s
        for s in session.scalars(select(MeterStateRow).where(MeterStateRow.meter_id.in_(meter_ids)))
    }


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


def hourly_quantities(
    session: Session, meter_ids: list[str], since: datetime
) -> Sequence[Row[str, datetime, float]]:
    """(meter, hour bucket, quantity) from ``since`` on."""
    return session.execute(
        select(RollupRow.meter_id, RollupRow.bucket_start, RollupRow.quantity).where(
            RollupRow.meter_id.in_(meter_ids),
            RollupRow.resolution == HOUR,
            RollupRow.bucket_start >= since,
        )
    ).all()
