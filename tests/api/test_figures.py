"""The figures API recomputes docs/carbon.md's worked example from real readings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
import yaml

from app.auth.tokens import Tokens
from app.commands.app import create_app
from app.config import Settings
from app.domain.plant import Plant
from app.plant.file import demo_plant_path, parse_plant
from app.plant.sync import sync_plant
from ingest.decode import DecodedReading
from ingest.writer import BatchWriter
from tests.conftest import Backend

OVERRIDES = demo_plant_path().parent / "demo_factor_overrides.yaml"
# 10:00-11:00 on 15 June 2026 in Gui'an (UTC+8) is 02:00-03:00 UTC
HOUR_START = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)
NOW = datetime(2026, 6, 15, 2, 59, 30, tzinfo=UTC)
TOKENS = Tokens("write-token-for-tests", "read-token-for-tests")
READ = {"Authorization": "Bearer read-token-for-tests"}
WRITE = {"Authorization": "Bearer write-token-for-tests"}


def worked_example_plant() -> Plant:
    """The demo plant with the worked example's certificates (300 kWh) and baseline (2.0)."""
    data = yaml.safe_load(demo_plant_path().read_text())
    data["sites"][0]["baseline"]["kwh_per_unit"] = 2.0
    data["sites"][0]["green_certificates"] = [
        {"period_start": "2026-06-15", "period_end": "2026-06-16", "mwh": 0.3, "reference": "t"}
    ]
    return parse_plant(yaml.safe_dump(data))


# meter -> raw register delta over the hour (el-grid-* count behind CT ratio 2000)
HOUR_DELTAS = {
    "el-grid-in-1": 1200 / 2000,
    "el-grid-export": 50 / 2000,
    "pv-inv-01": 800,
    "gas-boiler-01": 40,
    "water-main": 10,
    "water-reuse-ro": 5,
    "prod-cells": 900,
}


def hour_of_readings(plant: Plant) -> list[DecodedReading]:
    """Two register readings per meter: 01:59:59 (first) and 02:59 (the hour's total)."""
    units = {m.id: m.unit for _, m in plant.meters()}
    out = []
    for meter, delta in HOUR_DELTAS.items():
        for time, value in (
            (HOUR_START.replace(minute=0, second=0), 1000.0),
            (HOUR_START.replace(minute=59), 1000.0 + delta),
        ):
            out.append(DecodedReading.at("guian", meter, time, value, units[meter], None))
    return out


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


async def test_hour_figures_match_the_worked_example(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/sites/guian/figures", headers=READ)
    assert response.status_code == 200
    hour = response.json()["periods"]["hour"]
    assert hour["start"] == "2026-06-15T02:00:00Z"
    energy = hour["energy"]
    assert energy["grid_import_kwh"] == pytest.approx(1200)
    assert energy["pv_self_consumed_kwh"] == pytest.approx(750)
    assert energy["consumption_kwh"] == pytest.approx(1950)
    assert energy["production_units"] == pytest.approx(900)
    co2 = hour["co2"]
    expected = {
        "scope1_gas_kg": 86.48,
        "scope2_location_kg": 485.04,
        "scope2_market_kg": 548.64,
        "water_kg": 1.7088,
        "inventory_location_kg": 571.52,
        "inventory_market_kg": 635.12,
        "avoided_pv_kg": 303.15,
        "co2_reduced_kg": 243.3744,  # the physical levers: PV, efficiency, water reuse
        "offsets_retired_kg": 0,
    }
    for name, kg in expected.items():
        assert co2[name] == pytest.approx(kg, abs=1e-6), name
    levers = {lever["name"]: lever["kg"] for lever in co2["levers"]}
    assert levers == pytest.approx(
        {"pv": 303.15, "certificates": 182.88, "efficiency": -60.63, "water_reuse": 0.8544}
    )
    assert co2["factor_ids"]["scope2_location_kg"] == ["cn-csg-location-2023"]
    assert hour["pv_share"] == pytest.approx(750 / 1950)


async def test_offsets_stand_beside_the_year_inventory(client: httpx.AsyncClient) -> None:
    year = (await client.get("/api/v1/sites/guian/figures", headers=READ)).json()["periods"]["year"]
    # the demo plant retired 2,000 t of offsets on 30 June 2026: shown, never netted
    assert year["co2"]["offsets_retired_kg"] == pytest.approx(2_000_000)
    assert year["co2"]["inventory_location_kg"] == pytest.approx(571.52)
    assert year["co2"]["co2_reduced_kg"] == pytest.approx(243.3744)
    assert year["co2"]["contractual_reduced_kg"] == pytest.approx(182.88)


async def test_area_figures_cover_nested_areas(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/sites/guian/areas/utilities/figures", headers=READ)
    assert response.status_code == 200
    hour = response.json()["periods"]["hour"]
    # boilers and water treatment sit under utilities
    assert hour["energy"]["gas_m3"] == pytest.approx(40)
    assert hour["energy"]["water_m3"] == pytest.approx(10)
    assert hour["co2"]["levers"] == []
    missing = await client.get("/api/v1/sites/guian/areas/nowhere/figures", headers=READ)
    assert missing.status_code == 404


async def test_reads_need_a_token_and_writes_the_write_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/sites/guian/figures")).status_code == 401
    bad = await client.get("/api/v1/sites", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    kiosk = await client.get("/api/v1/sites?token=read-token-for-tests")
    assert kiosk.status_code == 200 and kiosk.json()[0]["id"] == "guian"
    body = {
        "reference": "GEC-TEST-0001",
        "instrument_type": "GEC",
        "generation_first": "2026-06-01",
        "generation_last": "2026-06-30",
        "claimed_first": "2026-07-01",
        "claimed_last": "2026-07-31",
        "quantity": "12.5",
        "unit": "MWh",
        "registry": "China GEC trading platform",
        "serial": "GEC-TEST-0001-S",
        "retired_on": "2026-07-02",
    }
    url = "/api/v1/sites/guian/certificates"
    assert (await client.post(url, json=body)).status_code == 401
    assert (await client.post(url, json=body, headers=READ)).status_code == 403
    # a write token never travels in the URL
    assert (await client.post(url + "?token=write-token-for-tests", json=body)).status_code == 401
    created = await client.post(url, json=body, headers=WRITE)
    assert created.status_code == 201 and created.json()["kwh"] == "12500.0"
    listed = (await client.get(url, headers=READ)).json()
    assert {Decimal(c["kwh"]) for c in listed} == {Decimal(300), Decimal(12500)}
    assert (await client.get("/api/v1/rejected", headers=READ)).status_code == 403
    assert (await client.get("/api/v1/rejected", headers=WRITE)).status_code == 200


async def test_operator_factor_override_changes_the_figures(client: httpx.AsyncClient) -> None:
    factor = {
        "id": "site-guian-grid-2026",
        "region": "site:guian",
        "resource": "electricity",
        "method": "location",
        "value": 0.5,
        "unit": "kgCO2/kWh",
        "gas_basis": "CO2",
        "data_year": 2026,
        "valid_from": "2026-01-01",
        "source": "operator test: utility letter 2026-03",
        "status": "published",
    }
    url = "/api/v1/factors/site-guian-grid-2026"
    assert (await client.put(url, json=factor, headers=READ)).status_code == 403
    saved = await client.put(url, json=factor, headers=WRITE)
    assert saved.status_code == 200, saved.text
    hour = (await client.get("/api/v1/sites/guian/figures", headers=READ)).json()["periods"]["hour"]
    assert hour["co2"]["scope2_location_kg"] == pytest.approx(1200 * 0.5)
    assert hour["co2"]["factor_ids"]["scope2_location_kg"] == ["site-guian-grid-2026"]
    listed = (await client.get("/api/v1/factors", headers=READ)).json()
    origins = {f["id"]: f["origin"] for f in listed["factors"]}
    assert origins["site-guian-grid-2026"] == "operator"
    assert origins["cn-csg-location-2023"] == "catalogue"


# Two API processes reading while two writers write: tests/e2e/test_replicas.py
