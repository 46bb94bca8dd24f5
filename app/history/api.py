"""``GET /api/v1/sites/{site}/history``: energy, CO₂ and cost at any zoom, with comparison."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from app.api.deps import PlantDep, SessionDep
from app.api.state import StateDep
from app.auth.deps import ReadAccess
from app.domain.plant import Plant
from app.figures.service import scope_for
from app.history.flow import energy_flow
from app.history.schedules import site_schedules
from app.history.service import UNITS, HistoryScope, HistoryService
from app.history.zoom import (
    DEFAULT_RANGE,
    MAX_RANGE,
    Comparison,
    NamedPeriod,
    Zoom,
    align,
    named_period,
    shift_back,
)

router = APIRouter(prefix="/api/v1", tags=["history"])


def history_scope(plant: Plant, site_id: str, area: str | None, meter: str | None) -> HistoryScope:
    """The site, area or meter asked for; 404 for unknown ones, 422 for both at once."""
    if area and meter:
        raise HTTPException(422, "give area or meter, not both")
    try:
        scope = scope_for(plant, site_id, area)
    except KeyError:
        what = f"area {area!r} of site {site_id!r}" if area else f"site {site_id!r}"
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {what}") from None
    meters = scope.meters
    if meter is not None:
        meters = tuple(m for m in scope.site.meters if m.id == meter)
        if not meters:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no meter {meter!r} at {site_id!r}")
    return HistoryScope(scope.site, area, meter, meters)


def resolve_range(
    zoom: Zoom,
    zone: Any,
    now: datetime,
    start: datetime | None,
    end: datetime | None,
    period: NamedPeriod | None,
) -> tuple[datetime, datetime]:
    """The range asked for, widened to whole buckets; 422 when empty or too long."""
    for name, value in (("start", start), ("end", end)):
        if value is not None and value.utcoffset() is None:
            raise HTTPException(422, f"{name} needs a UTC offset (e.g. Z)")
    if period is not None:
        start, end = named_period(period, now, zone)
    end = end or now
    start = start or end - DEFAULT_RANGE[zoom]
    if end <= start:
        raise HTTPException(422, "end must be after start")
    if end - start > MAX_RANGE[zoom]:
        raise HTTPException(
            422,
            f"{zoom} history covers at most {MAX_RANGE[zoom].days} days: "
            "use a coarser zoom or the CSV export",
        )
    return align(zoom, start.astimezone(UTC), end.astimezone(UTC), zone)


@router.get("/sites/{site_id}/history")
def site_history(
    site_id: str,
    plant: PlantDep,
    session: SessionDep,
    state: StateDep,
    _: ReadAccess,
    zoom: Zoom = "hour",
    start: datetime | None = None,
    end: datetime | None = None,
    period: NamedPeriod | None = None,
    area: str | None = None,
    meter: str | None = None,
    compare: Annotated[Comparison | None, Query(description="previous | year_before")] = None,
    cost: Annotated[bool, Query(description="false: energy and CO₂ only (faster)")] = True,
) -> dict[str, Any]:
    """Energy per resource, CO₂ (location and market) and cost per bucket, with totals.

    ``zoom``: minute, 15min, hour, day, week, month or year (site-local days and up).
    ``period``: today, this_week, this_month or this_year instead of start/end.
    ``compare``: the previous range of the same length, or the same range a year before.
    """
    scope = history_scope(plant, site_id, area, meter)
    zone = scope.site.zone
    start, end = resolve_range(zoom, zone, state.clock(), start, end, period)
    schedules = site_schedules(state.settings, site_id, zone)
    service = HistoryService(state.figures.factors)
    table = service.table(session, scope, zoom, start, end, schedules, with_cost=cost)
    result: dict[str, Any] = {
        "site": site_id,
        "area": area,
        "meter": meter,
        "zoom": zoom,
        "timezone": scope.site.timezone,
        "units": {r: UNITS[r] for r in sorted({m.resource.value for m in scope.meters})},
        **table,
    }
    if compare is not None:
        before = shift_back(compare, start, end, zone)
        other = service.table(session, scope, zoom, *before, schedules, with_cost=cost)
        result["comparison"] = {"kind": compare, **other}
    return result


@router.get("/sites/{site_id}/energy-flow")
def site_energy_flow(
    site_id: str,
    plant: PlantDep,
    session: SessionDep,
    state: StateDep,
    _: ReadAccess,
    start: datetime | None = None,
    end: datetime | None = None,
    period: NamedPeriod | None = "today",
) -> dict[str, Any]:
    """Grid import and PV → areas → feeders, with export and the unmetered remainder (kWh)."""
    scope = history_scope(plant, site_id, None, None)
    if start is not None or end is not None:
        period = None
    start, end = resolve_range("day", scope.site.zone, state.clock(), start, end, period)
    return {
        "start": start.isoformat().replace("+00:00", "Z"),
        "end": end.isoformat().replace("+00:00", "Z"),
        **energy_flow(session, scope.site, start, end),
    }
