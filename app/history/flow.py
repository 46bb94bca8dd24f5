"""Energy flow of a site over a range: grid import and PV → areas → sub-meters, and the rest.

Site consumption is grid import + PV − export. Each area's feeders are its metered use;
what the feeders do not account for is the unmetered remainder. Supplies are shared out
in proportion (an area used grid and PV in the site's mix), which a Sankey can draw.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.domain.plant import Resource, Site
from app.history import queries


def energy_flow(session: Session, site: Site, start: datetime, end: datetime) -> dict[str, Any]:
    """Nodes and links (kWh) of the site's electricity over ``[start, end)`` (local days)."""
    meters = {m.id: m for m in site.meters}
    electric = {
        m.id: m.id
        for m in site.meters
        if m.resource
        in (
            Resource.ELECTRICITY_IMPORT,
            Resource.ELECTRICITY_EXPORT,
            Resource.PV,
            Resource.ELECTRICITY,
        )
    }
    per_meter: dict[str, float] = defaultdict(float)
    for meter_id, _, quantity in queries.rollup_sums(
        session, electric, queries.DAY_RESOLUTION, start, end
    ):
        per_meter[meter_id] += quantity

    def total(resource: Resource) -> float:
        return sum(q for m, q in per_meter.items() if meters[m].resource is resource)

    grid, pv, export = (
        total(Resource.ELECTRICITY_IMPORT),
        total(Resource.PV),
        total(Resource.ELECTRICITY_EXPORT),
    )
    consumption = max(0.0, grid + pv - export)
    top_of = _top_areas(site)
    names = {a.id: a.name for a, _ in site.walk_areas()}
    areas: dict[str, float] = defaultdict(float)
    feeders: list[tuple[str, str, float]] = []
    for meter_id, quantity in sorted(per_meter.items()):
        meter = meters[meter_id]
        if meter.resource is Resource.ELECTRICITY:
            top = top_of[meter.area]
            areas[top] += quantity
            feeders.append((top, meter_id, quantity))
    metered = sum(areas.values())
    unmetered = consumption - metered
    supply = grid + pv
    grid_share = grid / supply if supply > 0 else 0.0
    nodes = [
        "grid_import",
        "pv",
        "export",
        *sorted(areas),
        "unmetered",
        *(m for _, m, _ in feeders),
    ]
    labels = {
        "grid_import": "Grid import",
        "pv": "PV",
        "export": "Export",
        "unmetered": "Unmetered",
        **{a: names[a] for a in areas},
        **{m: meters[m].name for _, m, _ in feeders},
    }
    links: list[dict[str, Any]] = []

    def link(source: str, target: str, kwh: float) -> None:
        if kwh > 0:
            links.append({"source": source, "target": target, "kwh": kwh})

    # export leaves from PV first (what PV made beyond the site's use), then from the grid
    pv_export = min(export, pv)
    link("pv", "export", pv_export)
    used_pv = pv - pv_export
    used_share = used_pv / (used_pv + grid) if used_pv + grid > 0 else 1 - grid_share
    for area, kwh in sorted(areas.items()):
        link("grid_import", area, kwh * (1 - used_share))
        link("pv", area, kwh * used_share)
    link("grid_import", "unmetered", max(unmetered, 0.0) * (1 - used_share))
    link("pv", "unmetered", max(unmetered, 0.0) * used_share)
    for area, meter_id, kwh in feeders:
        link(area, meter_id, kwh)
    return {
        "site": site.id,
        "unit": "kWh",
        "totals": {
            "grid_import": grid,
            "pv": pv,
            "export": export,
            "consumption": consumption,
            "metered": metered,
            "unmetered": unmetered,
        },
        "nodes": [{"id": n, "label": labels[n]} for n in nodes],
        "links": links,
    }


def _top_areas(site: Site) -> dict[str, str]:
    """Each area's top-level ancestor."""
    parent = {a.id: p for a, p in site.walk_areas()}
    top: dict[str, str] = {}
    for area in parent:
        current = area
        while parent[current] is not None:
            current = parent[current]  # type: ignore[assignment]
        top[area] = current
    return top
