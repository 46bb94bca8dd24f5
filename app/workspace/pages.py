"""The energy manager's pages, the charting library they use, and meter health.

Pages are static HTML and plain ES modules (``app/web/manager/``); Plotly's bundle is
served from the installed ``plotly`` package (``importlib.resources``), so no page makes a
request beyond this server.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Final

from fastapi import APIRouter, HTTPException, Response, status
from fastapi.responses import FileResponse
from sqlalchemy import func, select

from app.api.deps import PlantDep, SessionDep
from app.api.state import StateDep
from app.auth.deps import ReadAccess
from app.db.models import MeterEventRow, MeterStateRow, RejectedMessageRow

MANAGER_DIR: Final = Path(__file__).resolve().parent.parent / "web" / "manager"
PAGES: Final = ("overview", "history", "flow", "alerts", "certificates", "health")

router = APIRouter(tags=["workspace"])


@router.get("/manager/{site_id}", include_in_schema=False)
@router.get("/manager/{site_id}/{page}", include_in_schema=False)
def manager_page(site_id: str, state: StateDep, page: str = "overview") -> FileResponse:
    """One shell for every page; ``main.js`` loads the page named in the path."""
    if site_id not in {s.id for s in state.plant.sites}:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no site {site_id!r}")
    if page not in PAGES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no page {page!r}; pages: {PAGES}")
    return FileResponse(MANAGER_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@lru_cache(maxsize=1)
def _plotly_bundle() -> bytes:
    return (files("plotly") / "package_data" / "plotly.min.js").read_bytes()


@router.get("/vendor/plotly.min.js", include_in_schema=False)
def plotly_bundle() -> Response:
    """Plotly's own minified bundle, as the installed ``plotly`` package ships it."""
    return Response(
        _plotly_bundle(),
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat().replace("+00:00", "Z")


@router.get("/api/v1/sites/{site_id}/meter-health")
def meter_health(
    site_id: str, plant: PlantDep, session: SessionDep, state: StateDep, _: ReadAccess
) -> list[dict[str, Any]]:
    """Per meter: last reading and rate, seconds silent, register events, dead letters."""
    try:
        site = plant.site(site_id)
    except KeyError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no site {site_id!r}") from None
    ids = [m.id for m in site.meters]
    states = {
        s.meter_id: s
        for s in session.scalars(select(MeterStateRow).where(MeterStateRow.meter_id.in_(ids)))
    }
    events = dict(
        session.execute(
            select(MeterEventRow.meter_id, func.count())
            .where(MeterEventRow.meter_id.in_(ids))
            .group_by(MeterEventRow.meter_id)
        ).all()
    )
    rejected = dict(
        session.execute(
            select(RejectedMessageRow.meter_id, func.count())
            .where(RejectedMessageRow.meter_id.in_(ids))
            .group_by(RejectedMessageRow.meter_id)
        ).all()
    )
    now = state.clock()
    out = []
    for meter in site.meters:
        s = states.get(meter.id)
        silent = None if s is None else (now - s.last_time).total_seconds()
        out.append(
            {
                "meter": meter.id,
                "name": meter.name,
                "area": meter.area,
                "resource": meter.resource.value,
                "last_reading_at": _iso(s.last_time) if s else None,
                "last_value": s.last_value if s else None,
                "rate_per_h": s.last_rate_per_h if s else None,
                "silent_s": silent,
                "stale": silent is None or silent > 3 * meter.expected_interval_s,
                "events": int(events.get(meter.id, 0)),
                "dead_letters": int(rejected.get(meter.id, 0)),
            }
        )
    return out
