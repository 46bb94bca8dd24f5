"""Every route says in the OpenAPI spec what it answers, and answers exactly that.

The spec test fails when a route is added whose success response is left as "any
object"; the data tests read real rows back through the routes and compare them
with the shapes the rest of the service uses (the alert JSON of MQTT and webhooks,
the plant file's meters, the catalogue's factors).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from app.alerts.models import AlertRow
from app.alerts.schemas import alert_json
from app.commands.app import create_app
from app.config import Settings
from app.db.models import MeterEventRow, RejectedMessageRow
from app.domain.plant import Plant
from app.plant.sync import sync_plant
from ingest.writer import BatchWriter
from tests.api.test_figures import (
    NOW,
    OVERRIDES,
    READ,
    TOKENS,
    WRITE,
    hour_of_readings,
    worked_example_plant,
)
from tests.conftest import Backend

# Routes whose success body is still undescribed in the spec. Each entry must still be a
# gap (test_known_gaps_are_still_gaps): give the route a model, then drop it from here.
KNOWN_GAPS = {
    # the live figures (REST and websocket share one snapshot shape, still a plain dict)
    ("get", "/api/v1/sites/{site_id}/figures"),
    ("get", "/api/v1/sites/{site_id}/areas/{area_id}/figures"),
    # history, energy flow and meter health: plain dicts built by app.history
    ("get", "/api/v1/sites/{site_id}/history"),
    ("get", "/api/v1/sites/{site_id}/energy-flow"),
    ("get", "/api/v1/sites/{site_id}/meter-health"),
    # the instruments registry and the ISO 14068-1 status (app.carbon)
    ("get", "/api/v1/sites/{site_id}/certificates"),
    ("post", "/api/v1/sites/{site_id}/certificates"),
    ("get", "/api/v1/sites/{site_id}/offsets"),
    ("post", "/api/v1/sites/{site_id}/offsets"),
    ("post", "/api/v1/sites/{site_id}/offsets/{reference}/void"),
    ("get", "/api/v1/sites/{site_id}/instruments/audit"),
    ("get", "/api/v1/sites/{site_id}/neutrality"),
    # exports are files (CSV, XLSX, HTML, PDF), not JSON; their media types are not declared yet
    ("get", "/api/v1/sites/{site_id}/export/history.csv"),
    ("get", "/api/v1/sites/{site_id}/export/history.xlsx"),
    ("get", "/api/v1/sites/{site_id}/export/monthly/{month}.html"),
    ("get", "/api/v1/sites/{site_id}/export/monthly/{month}.pdf"),
    ("get", "/api/v1/sites/{site_id}/export/{table}.csv"),
}
# the live websockets are not in an OpenAPI spec at all (it describes HTTP only)


def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = create_app(Settings(mqtt_url="mqtt://127.0.0.1:1")).openapi()
    return spec


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = spec["components"]["schemas"][name]
    return schema


def _described(schema: dict[str, Any], spec: dict[str, Any]) -> bool:
    """Whether a schema says what a client gets: named fields, all the way down one level."""
    schema = _resolve(schema, spec)
    if schema.get("type") == "array":
        return _described(schema.get("items", {}), spec)
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        real = [b for b in branches if b.get("type") != "null"]
        return bool(real) and all(_described(b, spec) for b in real)
    if schema.get("properties"):
        return True
    extra = schema.get("additionalProperties")
    return isinstance(extra, dict) and _described(extra, spec)


def _gaps(spec: dict[str, Any]) -> set[tuple[str, str]]:
    """Operations with a success response that does not describe its body."""
    gaps = set()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if not code.startswith("2"):
                    continue
                content = response.get("content")
                if code == "204":
                    assert not content, f"{method} {path}: a 204 has no body"
                    continue
                schema = (content or {}).get("application/json", {}).get("schema", {})
                if not _described(schema, spec):
                    gaps.add((method, path))
    return gaps


def test_every_route_declares_what_it_answers() -> None:
    spec = _spec()
    undeclared = _gaps(spec) - KNOWN_GAPS
    assert not undeclared, f"routes without a response model: {sorted(undeclared)}"
    assert len(spec["paths"]) >= 20  # the whole API, not an empty spec


def test_known_gaps_are_still_gaps() -> None:
    spec = _spec()
    listed = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert listed >= KNOWN_GAPS, (
        f"no longer routes (drop them from KNOWN_GAPS): {sorted(KNOWN_GAPS - listed)}"
    )
    closed = KNOWN_GAPS - _gaps(spec)
    assert not closed, f"these routes have a model now: drop them from KNOWN_GAPS: {closed}"


def test_the_check_sees_an_undescribed_route() -> None:
    app = create_app(Settings(mqtt_url="mqtt://127.0.0.1:1"))

    @app.get("/api/v1/anything")
    def anything() -> dict[str, Any]:
        return {}

    assert ("get", "/api/v1/anything") in _gaps(app.openapi())


# --- the models carry exactly what the routes returned before they existed -----------------

T = datetime(2026, 6, 15, 2, 30, tzinfo=UTC)


@pytest.fixture
async def client(clean_backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    plant = worked_example_plant()
    sync_plant(clean_backend.factory, plant)
    BatchWriter(clean_backend.factory, plant, clean_backend.storage).write(
        hour_of_readings(plant), [], now=NOW
    )
    settings = Settings(
        database_url=clean_backend.url, factor_file=OVERRIDES, mqtt_url="mqtt://127.0.0.1:1"
    )
    app = create_app(settings, plant=plant, tokens=TOKENS, clock=lambda: NOW)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gp") as http:
            yield http


async def _get(client: httpx.AsyncClient, url: str, headers: dict[str, str] = READ) -> Any:
    response = await client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_sites_answer_the_plant_file(client: httpx.AsyncClient) -> None:
    plant: Plant = worked_example_plant()
    site = plant.sites[0]
    sites = await _get(client, "/api/v1/sites")
    assert sites == [
        {"id": s.id, "name": s.name, "timezone": s.timezone, "meters": len(s.meters)}
        for s in plant.sites
    ]
    detail = await _get(client, f"/api/v1/sites/{site.id}")
    assert detail["meters"] == [m.model_dump(mode="json", by_alias=True) for m in site.meters]
    assert detail["areas"] == [
        {"id": a.id, "name": a.name, "parent": p} for a, p in site.walk_areas()
    ]
    assert detail["regions"] == list(site.regions())
    assert (detail["latitude"], detail["longitude"]) == (site.latitude, site.longitude)


async def test_readings_events_and_dead_letters(
    client: httpx.AsyncClient, clean_backend: Backend
) -> None:
    readings = await _get(client, "/api/v1/meters/pv-inv-01/readings")
    assert [r["time"] for r in readings] == ["2026-06-15T02:59:00Z", "2026-06-15T02:00:00Z"]
    assert [r["raw_value"] for r in readings] == [1000.0 + 800, 1000.0]
    assert set(readings[0]) == {
        "time", "raw_value", "raw_unit", "value", "quantity", "quality", "seq"
    }  # fmt: skip
    assert readings[0]["quality"] == 0 and readings[1]["quantity"] is None

    with clean_backend.factory() as session, session.begin():
        session.add(
            MeterEventRow(
                meter_id="pv-inv-01", time=T, kind="reset", previous_value=None, value=3.5,
                detail="register went back to 3.5", recorded_at=T,
            )
        )  # fmt: skip
        session.add(
            RejectedMessageRow(
                received_at=T, topic="greenpulse/guian/x", meter_id=None, reason="decode",
                detail="not JSON", payload=b"\xff{",
            )
        )  # fmt: skip
    events = await _get(client, "/api/v1/meters/pv-inv-01/events")
    assert events == [
        {
            "time": "2026-06-15T02:30:00Z",
            "kind": "reset",
            "previous_value": None,
            "value": 3.5,
            "detail": "register went back to 3.5",
        }
    ]
    rejected = await _get(client, "/api/v1/rejected", headers=WRITE)
    assert [{k: v for k, v in r.items() if k != "id"} for r in rejected] == [
        {
            "received_at": "2026-06-15T02:30:00Z",
            "topic": "greenpulse/guian/x",
            "meter_id": None,
            "reason": "decode",
            "detail": "not JSON",
            "payload": "\ufffd{",
        }
    ]


async def test_alerts_answer_the_one_alert_shape(
    client: httpx.AsyncClient, clean_backend: Backend
) -> None:
    with clean_backend.factory() as session, session.begin():
        row = AlertRow(
            condition_key="spike:el-grid-in-1", kind="spike", severity="warning",
            status="open", site_id="guian", area_id=None, meter_id="el-grid-in-1",
            message="spike", observed=812.5, expected=400.0, threshold=640.0, unit="kW",
            opened_at=T, details={"since": "2026-06-15T02:28:00+00:00", "sigma": 5.1},
        )  # fmt: skip
        session.add(row)
        session.flush()
        shape = alert_json(row)
    assert await _get(client, f"/api/v1/alerts/{shape['id']}") == shape
    assert await _get(client, "/api/v1/alerts") == [shape]
    acknowledged = await client.post(
        f"/api/v1/alerts/{shape['id']}/acknowledge", json={"by": "ops"}, headers=WRITE
    )
    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.json() == {
        **shape,
        "status": "acknowledged",
        "acknowledged_at": "2026-06-15T02:59:30Z",
        "acknowledged_by": "ops",
    }


async def test_factors_answer_every_field(client: httpx.AsyncClient) -> None:
    listed = await _get(client, "/api/v1/factors")
    assert isinstance(listed["catalogue_version"], str) and listed["factors"]
    fields = {
        "id", "region", "resource", "method", "value", "unit", "kg_per_unit", "gas_basis",
        "data_year", "valid_from", "valid_to", "source", "status", "notes", "origin",
    }  # fmt: skip
    assert all(set(f) == fields for f in listed["factors"])
    assert {f["origin"] for f in listed["factors"]} <= {"catalogue", "operator"}
