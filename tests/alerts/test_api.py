"""The alerts REST API: list, acknowledge, resolve, rules; tokens and error codes."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from app.alerts import api as alerts_api
from app.alerts import outbox
from app.auth.tokens import Tokens
from app.commands.app import create_app
from app.config import Settings
from app.domain.plant import Plant
from tests.alerts.conftest import T0, Line, alert_rows, make_engine, minutes
from tests.conftest import Backend

TOKENS = Tokens("write-token-for-tests", "read-token-for-tests")
READ = {"Authorization": "Bearer read-token-for-tests"}
WRITE = {"Authorization": "Bearer write-token-for-tests"}
NOW = T0 + minutes(10)
HOOK = "http://127.0.0.1:9/hook"


class WebhookSettings(Settings):
    """Settings with GREENPULSE_WEBHOOK_URLS / _SECRET mapped into them (as in production)."""

    webhook_urls: tuple[str, ...] = ()
    webhook_secret: SecretStr | None = None


def with_alerts_router(app: FastAPI) -> FastAPI:
    if not any(getattr(r, "path", "") == "/api/v1/alerts" for r in app.routes):
        app.include_router(alerts_api.router)
    return app


@pytest.fixture
async def client(line: Line, plant: Plant) -> AsyncIterator[httpx.AsyncClient]:
    # three offline alerts (no meter ever reported), opened by the engine
    engine = make_engine(line.backend, plant)
    engine.evaluate_once(T0)
    engine.evaluate_once(T0 + minutes(4))
    settings = WebhookSettings(
        database_url=line.backend.url, mqtt_url="mqtt://127.0.0.1:1", webhook_urls=(HOOK,)
    )
    app = with_alerts_router(create_app(settings, plant=plant, tokens=TOKENS, clock=lambda: NOW))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gp") as http:
            yield http


def offline_id(backend: Backend, meter: str) -> int:
    (row,) = alert_rows(backend, f"offline:meter:{meter}")
    return row.id


async def test_list_needs_the_read_token_and_filters(
    client: httpx.AsyncClient, clean_backend: Backend
) -> None:
    assert (await client.get("/api/v1/alerts")).status_code == 401
    bad = await client.get("/api/v1/alerts", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    listed = await client.get("/api/v1/alerts", headers=READ)
    assert listed.status_code == 200
    alerts = listed.json()
    assert {a["meter_id"] for a in alerts} == {"el-press-1", "el-press-2", "pv-roof"}
    assert [a["id"] for a in alerts] == sorted((a["id"] for a in alerts), reverse=True)
    first = alerts[0]
    assert first["status"] == "open" and first["kind"] == "offline"
    assert first["since"] == "2026-06-16T02:00:00Z" and first["opened_at"] == "2026-06-16T02:04:00Z"
    query = "/api/v1/alerts?site=plant-a&status=active&kind=offline&meter=pv-roof"
    assert [a["meter_id"] for a in (await client.get(query, headers=READ)).json()] == ["pv-roof"]
    assert (await client.get("/api/v1/alerts?area=roof", headers=READ)).json()[0]["area_id"] == (
        "roof"
    )
    assert (await client.get("/api/v1/alerts?status=resolved", headers=READ)).json() == []
    assert (
        await client.get("/api/v1/alerts?since=2026-06-16T03:00:00Z", headers=READ)
    ).json() == []
    assert (await client.get("/api/v1/alerts?status=nonsense", headers=READ)).status_code == 422
    kiosk = await client.get("/api/v1/alerts?token=read-token-for-tests")
    assert kiosk.status_code == 200


async def test_acknowledge_then_resolve_with_codes(
    client: httpx.AsyncClient, clean_backend: Backend
) -> None:
    alert_id = offline_id(clean_backend, "pv-roof")
    url = f"/api/v1/alerts/{alert_id}"
    body = {"by": "Li Wei", "note": "on my way"}
    assert (await client.post(url + "/acknowledge", json=body)).status_code == 401
    assert (await client.post(url + "/acknowledge", json=body, headers=READ)).status_code == 403
    acked = await client.post(url + "/acknowledge", json=body, headers=WRITE)
    assert acked.status_code == 200, acked.text
    assert acked.json()["status"] == "acknowledged"
    assert acked.json()["acknowledged_by"] == "Li Wei"
    assert acked.json()["acknowledge_note"] == "on my way"
    again = await client.post(url + "/acknowledge", json=body, headers=WRITE)
    assert again.status_code == 409 and "already acknowledged" in again.json()["detail"]

    no_note = await client.post(url + "/resolve", json={"by": "Li Wei"}, headers=WRITE)
    assert no_note.status_code == 422
    blank = await client.post(url + "/resolve", json={"by": "Li Wei", "note": " "}, headers=WRITE)
    assert blank.status_code == 422
    resolved = await client.post(
        url + "/resolve", json={"by": "Li Wei", "note": "inverter breaker reset"}, headers=WRITE
    )
    assert resolved.status_code == 200
    assert resolved.json()["status"] == "resolved"
    assert resolved.json()["resolution_note"] == "inverter breaker reset"
    assert resolved.json()["resolved_automatically"] is False
    twice = await client.post(
        url + "/resolve", json={"by": "Li Wei", "note": "again"}, headers=WRITE
    )
    assert twice.status_code == 409
    late_ack = await client.post(url + "/acknowledge", json=body, headers=WRITE)
    assert late_ack.status_code == 409

    fetched = await client.get(url, headers=READ)
    assert fetched.status_code == 200 and fetched.json()["status"] == "resolved"
    # the API's transitions left webhook outbox rows for the engine to deliver
    with clean_backend.factory() as session:
        events = [d.event for d in outbox.deliveries_for(session, alert_id)]
    assert events == ["acknowledged", "resolved"]


async def test_unknown_alerts_are_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/alerts/999999", headers=READ)).status_code == 404
    ack = await client.post("/api/v1/alerts/999999/acknowledge", json={"by": "x"}, headers=WRITE)
    assert ack.status_code == 404
    res = await client.post(
        "/api/v1/alerts/999999/resolve", json={"by": "x", "note": "y"}, headers=WRITE
    )
    assert res.status_code == 404


async def test_rules_read_and_override_at_runtime(
    client: httpx.AsyncClient, line: Line, plant: Plant
) -> None:
    rules = (await client.get("/api/v1/alerts/rules", headers=READ)).json()
    press = next(m for m in rules["meters"] if m["meter_id"] == "el-press-1")
    assert press["rules"]["spike_min_duration_s"] == 120  # from the plant file's site level
    assert press["rules"]["spike_sigma"] == 4.0  # the default
    assert rules["overrides"] == []

    url = "/api/v1/alerts/rules/area/press"
    change = {"spike_sigma": 6.0, "offline_missed_intervals": 5}
    assert (await client.put(url, json=change, headers=READ)).status_code == 403
    assert (await client.put(url, json={"spike_sigma": -1}, headers=WRITE)).status_code == 422
    assert (await client.put(url, json={"colour": "red"}, headers=WRITE)).status_code == 422
    missing = await client.put("/api/v1/alerts/rules/meter/nope", json=change, headers=WRITE)
    assert missing.status_code == 404
    saved = await client.put(url + "?by=energy-manager", json=change, headers=WRITE)
    assert saved.status_code == 200, saved.text
    assert saved.json() == {"scope": "area", "target_id": "plant-a/press", "rules": change}
    meter = await client.put(
        "/api/v1/alerts/rules/meter/el-press-1", json={"spike_sigma": 3.0}, headers=WRITE
    )
    assert meter.status_code == 200

    rules = (await client.get("/api/v1/alerts/rules", headers=READ)).json()
    effective = {m["meter_id"]: m["rules"] for m in rules["meters"]}
    assert effective["el-press-1"]["spike_sigma"] == 3.0  # the meter beats its area
    assert effective["el-press-2"]["spike_sigma"] == 6.0
    assert effective["el-press-2"]["offline_missed_intervals"] == 5
    assert effective["pv-roof"]["spike_sigma"] == 4.0

    # the engine reloads overrides every evaluation
    engine = make_engine(line.backend, plant)
    engine.evaluate_once(NOW)
    assert engine._rulebook.for_meter(plant.sites[0].meters[1]).offline_missed_intervals == 5

    assert (await client.delete(url, headers=WRITE)).status_code == 204
    assert (await client.delete(url, headers=WRITE)).status_code == 404
    rules = (await client.get("/api/v1/alerts/rules", headers=READ)).json()
    assert [o["target_id"] for o in rules["overrides"]] == ["el-press-1"]


async def test_engine_resolution_is_visible_through_the_api(
    client: httpx.AsyncClient, line: Line, plant: Plant
) -> None:
    engine = make_engine(line.backend, plant)
    engine.evaluate_once(NOW - minutes(1))  # adopts the three open alerts, clears none
    assert engine.transitions == deque()
    line.power("el-press-2", NOW, 100.0)
    engine.evaluate_once(NOW + timedelta(seconds=1))
    listed = (await client.get("/api/v1/alerts?meter=el-press-2", headers=READ)).json()
    assert listed[0]["status"] == "resolved"
    assert listed[0]["resolved_automatically"] is True
    assert listed[0]["resolution_note"] == "readings resumed at 10:10"
