"""Exports: CSV of every table (streamed, any range), XLSX, and the monthly report."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Response, status
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlalchemy import select

from app.alerts.models import AlertRow
from app.alerts.schemas import alert_json
from app.api.deps import PlantDep, SessionDep
from app.api.state import StateDep
from app.auth.deps import ReadAccess
from app.history.api import history_scope, resolve_range
from app.history.flow import energy_flow
from app.history.schedules import site_schedules
from app.history.service import HistoryService
from app.history.zoom import NamedPeriod, Zoom
from app.reports import instruments
from app.reports.monthly import build_report, render_html, render_pdf
from app.reports.tables import csv_lines, dict_rows, history_chunks, history_rows, xlsx_bytes
from app.workspace.pages import meter_health

router = APIRouter(prefix="/api/v1/sites/{site_id}/export", tags=["exports"])
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
TABLES = ("flow", "health", "alerts", "certificates", "offsets")


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


def _range(
    state: Any,
    zone: Any,
    zoom: Zoom,
    start: datetime | None,
    end: datetime | None,
    period: NamedPeriod | None,
) -> tuple[datetime, datetime]:
    # exports take any range: the zoom's limit applies to the screen, not to a file
    if start is not None and end is not None and period is None:
        if start.utcoffset() is None or end.utcoffset() is None or end <= start:
            raise HTTPException(422, "start and end need a UTC offset, end after start")
        from app.history.zoom import align

        return align(zoom, start.astimezone(UTC), end.astimezone(UTC), zone)
    return resolve_range(zoom, zone, state.clock(), start, end, period)


@router.get("/history.csv")
def history_csv(
    site_id: str,
    plant: PlantDep,
    state: StateDep,
    _: ReadAccess,
    zoom: Zoom = "hour",
    start: datetime | None = None,
    end: datetime | None = None,
    period: NamedPeriod | None = None,
    area: str | None = None,
    meter: str | None = None,
) -> StreamingResponse:
    """The history table as CSV, computed and sent in chunks, with a total row."""
    scope = history_scope(plant, site_id, area, meter)
    first, last = _range(state, scope.site.zone, zoom, start, end, period)
    schedules = site_schedules(state.settings, site_id, scope.site.zone)
    service = HistoryService(state.figures.factors)
    chunks = history_chunks(state.session_factory, service, scope, zoom, first, last, schedules)
    name = f"{site_id}-{area or meter or 'site'}-{zoom}-history.csv"
    return StreamingResponse(
        csv_lines(history_rows(scope, chunks)), media_type="text/csv", headers=_attachment(name)
    )


@router.get("/history.xlsx")
def history_xlsx(
    site_id: str,
    plant: PlantDep,
    state: StateDep,
    _: ReadAccess,
    zoom: Zoom = "day",
    start: datetime | None = None,
    end: datetime | None = None,
    period: NamedPeriod | None = None,
    area: str | None = None,
    meter: str | None = None,
) -> Response:
    """The history table, its factors and tariffs as a workbook."""
    scope = history_scope(plant, site_id, area, meter)
    first, last = _range(state, scope.site.zone, zoom, start, end, period)
    schedules = site_schedules(state.settings, site_id, scope.site.zone)
    service = HistoryService(state.figures.factors)
    tables = list(
        history_chunks(state.session_factory, service, scope, zoom, first, last, schedules)
    )
    uses = (
        [
            {"column": column, **use}
            for column, items in tables[0]["factors"].items()
            for use in items
        ]
        if tables
        else []
    )
    data = xlsx_bytes(
        {
            "history": history_rows(scope, tables),
            "factors": dict_rows(
                uses, ["column", "factor_id", "kg_per_unit", "unit", "quantity", "kg"]
            ),
            "tariffs": [
                ["schedule_id"],
                *([s] for s in (tables[0]["cost_info"]["schedule_ids"] if tables else [])),
            ],
        }
    )
    return Response(
        data,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers=_attachment(f"{site_id}-{zoom}-history.xlsx"),
    )


@router.get("/{table}.csv")
def table_csv(
    site_id: str,
    table: str,
    plant: PlantDep,
    session: SessionDep,
    state: StateDep,
    access: ReadAccess,
    start: datetime | None = None,
    end: datetime | None = None,
    period: NamedPeriod | None = None,
) -> StreamingResponse:
    """Energy flow, meter health, alerts, certificates or offsets as CSV."""
    scope = history_scope(plant, site_id, None, None)
    rows: Any
    if table == "flow":
        first, last = _range(state, scope.site.zone, "day", start, end, period or "today")
        flow = energy_flow(session, scope.site, first, last)
        rows = dict_rows(flow["links"], ["source", "target", "kwh"])
    elif table == "health":
        rows = dict_rows(
            meter_health(site_id, plant, session, state, access),
            [
                "meter",
                "name",
                "area",
                "resource",
                "last_reading_at",
                "last_value",
                "rate_per_h",
                "silent_s",
                "stale",
                "events",
                "dead_letters",
            ],
        )
    elif table == "alerts":
        alerts = session.scalars(
            select(AlertRow)
            .where(AlertRow.site_id == site_id)
            .order_by(AlertRow.id.desc())
            .limit(10_000)
        ).all()
        rows = dict_rows(
            [alert_json(a) for a in alerts],
            [
                "id",
                "kind",
                "severity",
                "status",
                "area_id",
                "meter_id",
                "message",
                "opened_at",
                "acknowledged_at",
                "acknowledged_by",
                "resolved_at",
                "resolved_by",
                "resolution_note",
            ],
        )
    elif table in ("certificates", "offsets"):
        read = instruments.certificates if table == "certificates" else instruments.offsets
        items = read(session, site_id, scope.site.zone)
        rows = dict_rows(items, list(items[0]) if items else ["reference"])
    else:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no table {table!r}; tables: {TABLES}")
    return StreamingResponse(
        csv_lines(list(rows)), media_type="text/csv", headers=_attachment(f"{site_id}-{table}.csv")
    )


def _report(site_id: str, month: str, plant: Any, session: Any, state: Any) -> Any:
    found = MONTH.match(month)
    if not found:
        raise HTTPException(422, "month is YYYY-MM")
    scope = history_scope(plant, site_id, None, None)
    schedules = site_schedules(state.settings, site_id, scope.site.zone)
    service = HistoryService(state.figures.factors)
    return build_report(session, service, scope, int(found[1]), int(found[2]), schedules)


@router.get("/monthly/{month}.html", response_class=HTMLResponse)
def monthly_html(
    site_id: str, month: str, plant: PlantDep, session: SessionDep, state: StateDep, _: ReadAccess
) -> HTMLResponse:
    """The month's energy and carbon report, printable."""
    return HTMLResponse(render_html(_report(site_id, month, plant, session, state)))


@router.get("/monthly/{month}.pdf")
def monthly_pdf(
    site_id: str, month: str, plant: PlantDep, session: SessionDep, state: StateDep, _: ReadAccess
) -> Response:
    """The same report as a PDF."""
    pdf = render_pdf(_report(site_id, month, plant, session, state))
    return Response(
        pdf, media_type="application/pdf", headers=_attachment(f"{site_id}-{month}.pdf")
    )
