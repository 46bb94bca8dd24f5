"""Live figures: REST snapshots and websocket streams (the same computation)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import date
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect, status

from app.api.deps import HubDep, PlantDep, SessionDep, resolve_scope
from app.api.state import StateDep, state_of
from app.auth.deps import ReadAccess, websocket_access
from app.auth.tokens import Access
from app.domain.instruments import OffsetTotal
from app.domain.levers import Reductions
from app.domain.neutrality import neutrality_status
from app.domain.periods import BUCKET_RESOLUTION, OffsetNotSupportedError, Period, date_range_bounds
from app.figures.schemas import neutrality_json

log = logging.getLogger(__name__)
router = APIRouter(tags=["live"])

# a client that cannot take one frame in this long is dropped
SEND_TIMEOUT_S = 10.0


@router.get("/api/v1/sites/{site_id}/figures")
async def site_figures(site_id: str, plant: PlantDep, hub: HubDep, _: ReadAccess) -> Any:
    """This hour, today and this year for a site: energy, CO₂, levers, power, alerts."""
    scope = resolve_scope(plant, site_id)
    return await asyncio.to_thread(hub.compute, scope)


@router.get("/api/v1/sites/{site_id}/areas/{area_id}/figures")
async def area_figures(
    site_id: str, area_id: str, plant: PlantDep, hub: HubDep, _: ReadAccess
) -> Any:
    """The same figures for one area and its sub-areas."""
    scope = resolve_scope(plant, site_id, area_id)
    return await asyncio.to_thread(hub.compute, scope)


@router.get("/api/v1/sites/{site_id}/neutrality")
def neutrality(
    site_id: str,
    first: date,
    after_last: date,
    plant: PlantDep,
    state: StateDep,
    session: SessionDep,
    _: ReadAccess,
    area: str | None = None,
    verified: bool = False,
) -> dict[str, Any]:
    """ISO 14068-1 status for site-local dates ``[first, after_last)`` of the site or an area."""
    scope = resolve_scope(plant, site_id, area)
    site = scope.site
    try:
        start, end = date_range_bounds(first, after_last, site.zone)
    except (ValueError, OffsetNotSupportedError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    period = Period("claim", start, end, BUCKET_RESOLUTION)
    figures, data = state.figures.period_carbon(session, site, period, state.clock())
    if area is None:
        emissions, basis = figures.inventory_market_kg, figures.inventory_market_basis
        reductions, offsets = figures.reductions, data.offsets
    else:
        share = state.figures.area_inventory(data, figures, period, scope)
        emissions = Decimal(repr(share["inventory_market_kg"]))
        basis = share["basis"]["inventory_market_kg"]
        none = OffsetTotal(Decimal(0), (), "CO2e")
        reductions = Reductions((), (), none, ("levers are counted for the whole site",))
        offsets = ()
    status_ = neutrality_status(
        boundary=f"area:{area}" if area else f"site:{site.id}",
        first=first,
        after_last=after_last,
        zone=site.zone,
        emissions_kg=emissions,
        emissions_basis=basis,
        reductions=reductions,
        offsets=offsets,
        verified=verified,
    )
    return neutrality_json(status_)


@router.websocket("/api/v1/live/sites/{site_id}")
async def site_stream(websocket: WebSocket, site_id: str) -> None:
    """A full snapshot on connect, then one at least every second."""
    await _stream(websocket, site_id, None)


@router.websocket("/api/v1/live/sites/{site_id}/areas/{area_id}")
async def area_stream(websocket: WebSocket, site_id: str, area_id: str) -> None:
    await _stream(websocket, site_id, area_id)


async def _stream(websocket: WebSocket, site_id: str, area_id: str | None) -> None:
    # accept first, then close with a reason: browsers cannot see why a refused upgrade failed
    await websocket.accept()
    if websocket_access(websocket) is Access.NONE:
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason="token required")
        return
    state = state_of(websocket.app)
    plant, hub = state.plant, state.hub
    try:
        scope = resolve_scope(plant, site_id, area_id)
    except Exception:
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason="unknown site or area")
        return
    reader = asyncio.create_task(_drain(websocket))
    try:
        async with hub.subscribe(scope) as mailbox:
            while not reader.done():
                getter = asyncio.ensure_future(mailbox.get())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    break
                await asyncio.wait_for(websocket.send_text(getter.result()), SEND_TIMEOUT_S)
    except (WebSocketDisconnect, TimeoutError, RuntimeError):
        log.debug("live client for %s left", scope.key)
    finally:
        reader.cancel()
        with contextlib.suppress(Exception):
            await websocket.close()


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, so a disconnect is noticed at once."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await websocket.receive_text()
