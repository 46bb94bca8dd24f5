"""The plant, its meters, readings and events, and dead letters.

History is in app.history, certificates and offsets in app.carbon.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import select

from app.api.deps import PlantDep, SessionDep, resolve_scope
from app.api_types import BoundedDatetime
from app.auth.deps import ReadAccess, WriteAccess
from app.db.models import MeterEventRow, ReadingRow, RejectedMessageRow
from app.plant.schemas import (
    AreaRef,
    MeterEvent,
    RejectedMessage,
    SiteDetail,
    SiteSummary,
    StoredReading,
)

router = APIRouter(prefix="/api/v1", tags=["plant"])

# the quantity a rate accumulates to in a bucket
QUANTITY_UNIT = {"kW": "kWh", "m3/h": "m3", "unit/h": "unit"}


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


@router.get("/sites")
def list_sites(plant: PlantDep, _: ReadAccess) -> list[SiteSummary]:
    return [
        SiteSummary(id=s.id, name=s.name, timezone=s.timezone, meters=len(s.meters))
        for s in plant.sites
    ]


@router.get("/sites/{site_id}")
def get_site(site_id: str, plant: PlantDep, _: ReadAccess) -> SiteDetail:
    site = resolve_scope(plant, site_id).site
    return SiteDetail(
        id=site.id,
        name=site.name,
        timezone=site.timezone,
        latitude=site.latitude,
        longitude=site.longitude,
        regions=list(site.regions()),
        areas=[AreaRef(id=a.id, name=a.name, parent=p) for a, p in site.walk_areas()],
        meters=list(site.meters),
    )


@router.get("/meters/{meter_id}/readings")
def meter_readings(
    meter_id: str,
    plant: PlantDep,
    session: SessionDep,
    _: ReadAccess,
    start: BoundedDatetime | None = None,
    end: BoundedDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[StoredReading]:
    """Stored readings: what the meter said (raw) and what it means (quantity, quality)."""
    if meter_id not in {m.id for _, m in plant.meters()}:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no meter {meter_id!r}")
    query = select(ReadingRow).where(ReadingRow.meter_id == meter_id)
    if start:
        query = query.where(ReadingRow.time >= start)
    if end:
        query = query.where(ReadingRow.time < end)
    rows = session.scalars(query.order_by(ReadingRow.time.desc()).limit(limit)).all()
    return [
        StoredReading(
            time=_iso(r.time),
            raw_value=r.raw_value,
            raw_unit=r.raw_unit,
            value=r.value,
            quantity=r.quantity,
            quality=r.quality,
            seq=r.seq,
        )
        for r in rows
    ]


@router.get("/meters/{meter_id}/events")
def meter_events(meter_id: str, session: SessionDep, _: ReadAccess) -> list[MeterEvent]:
    """Resets, rollovers, replacements and jumps detected on this meter's register."""
    rows = session.scalars(
        select(MeterEventRow)
        .where(MeterEventRow.meter_id == meter_id)
        .order_by(MeterEventRow.time.desc())
        .limit(500)
    ).all()
    return [
        MeterEvent(
            time=_iso(e.time),
            kind=e.kind,
            previous_value=e.previous_value,
            value=e.value,
            detail=e.detail,
        )
        for e in rows
    ]


@router.get("/rejected")
def rejected_messages(
    session: SessionDep,
    _: WriteAccess,
    reason: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[RejectedMessage]:
    """Messages ingestion refused, newest first, with the reason and the payload as sent."""
    query = select(RejectedMessageRow).order_by(RejectedMessageRow.id.desc()).limit(limit)
    if reason:
        query = query.where(RejectedMessageRow.reason == reason)
    return [
        RejectedMessage(
            id=r.id,
            received_at=_iso(r.received_at),
            topic=r.topic,
            meter_id=r.meter_id,
            reason=r.reason,
            detail=r.detail,
            payload=r.payload.decode("utf-8", errors="replace"),
        )
        for r in session.scalars(query)
    ]
