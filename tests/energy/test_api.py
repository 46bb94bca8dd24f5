"""The energy routes recompute docs/energy.md's worked examples from real readings.

Readings go through the ingester's ``BatchWriter`` into rollups on SQLite,
PostgreSQL and TimescaleDB; the routes read them back. Tables are read from the
page itself, so a changed example changes the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.auth.tokens import Tokens
from app.commands.app import create_app
from app.config import Settings
from app.domain.plant import Plant
from app.plant.file import demo_plant_path, load_plant
from app.plant.sync import sync_plant
from ingest.decode import DecodedReading
from ingest.writer import BatchWriter
from tests.conftest import Backend
from tests.energy.doc_tables import num, table

ZONE = ZoneInfo("Asia/Shanghai")
OVERRIDES = demo_plant_path().parent / "demo_factor_overrides.yaml"
TOKENS = Tokens("write-token-for-tests", "read-token-for-tests")
READ = {"Authorization": "Bearer read-token-for-tests"}
WRITE = {"Authorization": "Bearer write-token-for-tests"}
NOW = datetime(2026, 4, 20, 4, 0, tzinfo=UTC)
TOU_DAY = date(2026, 3, 10)
BASELINE_DAY = date(2026, 4, 1)  # 12 baseline days, then 4 reporting days
MULTIPLIER = 2000  # the grid incomers count behind CT ratio 2000


def local(day: date, hour: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZONE).astimezone(UTC) + timedelta(
        hours=hour
    )


class Registers:
    """Cumulative register values per meter, read out as hourly readings."""

    def __init__(self, plant: Plant) -> None:
        self.units = {m.id: m.unit for _, m in plant.meters()}
        self.value: dict[str, float] = {}
        self.last: dict[str, datetime] = {}
        self.readings: list[DecodedReading] = []

    def hour(self, start: datetime, quantities: dict[str, float]) -> None:
        for meter, quantity in quantities.items():
            if self.last.get(meter) != start:  # after a gap: a reading opens the hour
                self.value.setdefault(meter, 1000.0)
                self.readings.append(self._at(meter, start))
            self.value[meter] += quantity
            self.last[meter] = start + timedelta(hours=1)
            self.readings.append(self._at(meter, self.last[meter]))

    def _at(self, meter: str, time: datetime) -> DecodedReading:
        return DecodedReading.at("guian", meter, time, self.value[meter], self.units[meter], None)


def electricity(kwh: float) -> dict[str, float]:
    """Grid import split over the two incomers (each below its rating), in register units."""
    return {"el-grid-in-1": kwh / 2 / MULTIPLIER, "el-grid-in-2": kwh / 2 / MULTIPLIER}


ELECTRODE_SHARE = 0.2  # of the site's electricity, on the electrode workshop's feeders
ELECTRODE_FEEDERS = {"el-coating-1": 0.4, "el-coating-2": 0.4, "el-calender": 0.2}


def electrode(kwh: float) -> dict[str, float]:
    return {meter: kwh * ELECTRODE_SHARE * part for meter, part in ELECTRODE_FEEDERS.items()}


def readings(plant: Plant) -> list[DecodedReading]:
    registers = Registers(plant)
    # example 3 and 4: one day under the ToU tariff, with gas, water and production
    kgce = {row[0]: num(row[1]) for row in table("kgce") if row[0] != "total"}
    for row in table("tou-day"):
        first, last = (int(h) for h in row[0].split("–"))
        for hour in range(first, last):
            registers.hour(
                local(TOU_DAY, hour),
                electricity(num(row[2]))
                | {
                    "gas-boiler-01": kgce["gas (reference)"] / 24,
                    "water-main": kgce["water"] / 24,
                    "prod-cells": 10_000 / 24,
                },
            )
    # examples 1 and 2: one point per day (the page's 30-day periods, as days)
    days = [(num(r[1]), num(r[2])) for r in table("baseline-points")]
    days += [(num(r[1]), num(r[2])) for r in table("savings")]
    for index, (units, kwh) in enumerate(days):
        day = BASELINE_DAY + timedelta(days=index)
        for hour in range(24):
            registers.hour(
                local(day, hour),
                electricity(kwh / 24) | electrode(kwh / 24) | {"prod-cells": units / 24},
            )
    return registers.readings


@pytest.fixture
async def client(clean_backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    plant = load_plant(demo_plant_path())
    sync_plant(clean_backend.factory, plant)
    writer = BatchWriter(clean_backend.factory, plant, clean_backend.storage)
    batch = readings(plant)
    for i in range(0, len(batch), 500):
        writer.write(batch[i : i + 500], [], now=NOW)
    settings = Settings(
        database_url=clean_backend.url,
        factor_file=OVERRIDES,
        plant_file=demo_plant_path(),
        mqtt_url="mqtt://127.0.0.1:1",
    )
    app = create_app(settings, plant=plant, tokens=TOKENS, clock=lambda: NOW)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gp") as http:
            yield http


BASE = "/api/v1/sites/guian/energy"


async def test_tou_day_cost_matches_the_worked_example(client: httpx.AsyncClient) -> None:
    day = {"start": "2026-03-10", "end": "2026-03-11", "by": "hour", "shift_kwh": "1000"}
    response = await client.get(f"{BASE}/cost", params=day, headers=READ)
    assert response.status_code == 200, response.text
    cost = response.json()
    totals = {row[0]: row[1] for row in table("tou-totals")}
    by_period = {line["period"]: line for line in cost["by_tou_period"]}
    for period in ("valley", "flat", "peak"):
        assert by_period[period]["quantity"] == pytest.approx(num(totals[f"{period}_kwh"]))
    assert cost["energy_cost"]["rounded"] == totals["cost"].replace(",", "")
    assert isinstance(cost["energy_cost"]["amount"], str)
    assert Decimal(cost["average_price"]).quantize(Decimal("0.0001")) == Decimal(
        totals["average_price"]
    )
    shift = cost["load_shift"]
    assert shift["saving"]["rounded"] == totals["shift_1000_kwh_peak_to_valley"]
    # hours add up to the day exactly; the money is Decimal text, never a float
    hours = sum(Decimal(g["cost"]["amount"]) for g in cost["groups"])
    assert hours == Decimal(cost["energy_cost"]["amount"]) and len(cost["groups"]) == 24
    assert cost["ids"]["tariffs"] == ["demo-guian-electricity-2026"] and cost["illustrative"]
    # the demand charge: the day's highest hour (1,000 kWh → 1,000 kW) × 38.00 CNY/kW
    assert cost["demand"][0]["billed_kw"] == "1000.0"
    assert cost["demand_cost"]["rounded"] == "38000.00"


async def test_comprehensive_energy_matches_the_worked_example(client: httpx.AsyncClient) -> None:
    day = {"start": "2026-03-10", "end": "2026-03-11"}
    response = await client.get(f"{BASE}/comprehensive", params=day, headers=READ)
    assert response.status_code == 200, response.text
    body = response.json()
    lines = {line["carrier"]: line for line in body["lines"]}
    rows = {row[0]: row for row in table("kgce")}
    assert lines["electricity"]["quantity"] == pytest.approx(num(rows["electricity"][1]))
    assert lines["electricity"]["kgce"] == pytest.approx(num(rows["electricity"][3]))
    assert lines["water"]["kgce"] == pytest.approx(num(rows["water"][3]))
    # the demo site declares its gas heating value (34,900 kJ/m³): the page's variant
    assert lines["gas"]["kgce"] == pytest.approx(2000 * 34900 / 29307.6)
    assert lines["gas"]["coefficient_id"] == "guian-gas-declared-2026"
    assert body["production_units"] == pytest.approx(10_000)
    assert body["total_tce"] == pytest.approx(body["total_kgce"] / 1000)
    assert "cn-electricity-calorific-gbt2589-2020" in body["ids"]["kgce"]


async def test_refit_baseline_and_savings_match_the_worked_examples(
    client: httpx.AsyncClient,
) -> None:
    body = {"start": "2026-04-01", "end": "2026-04-13", "granularity": "day", "model_id": "t"}
    assert (await client.post(f"{BASE}/baseline", json=body, headers=READ)).status_code == 403
    fitted = await client.post(f"{BASE}/baseline", json=body, headers=WRITE)
    assert fitted.status_code == 200, fitted.text
    model = fitted.json()
    expected = {row[0]: num(row[1]) for row in table("baseline-model")}
    assert model["kwh_per_unit"] == pytest.approx(expected["kwh_per_unit"], rel=1e-6)
    assert model["fixed_kwh_per_period"] == pytest.approx(expected["fixed_kwh_per_period"])
    assert model["r_squared"] == pytest.approx(expected["r_squared"], abs=5e-5)
    assert model["cv_rmse"] == pytest.approx(expected["cv_rmse"], abs=5e-5)
    assert model["n"] == expected["n"] and model["valid"] and model["source"] == "stored"
    assert {c["name"] for c in model["checks"]} >= {"min_points", "min_r_squared"}
    # days here, not 30-day periods: the same b over 24 h
    assert model["base_load_kw"] == pytest.approx(expected["fixed_kwh_per_period"] / 24)
    stored = (await client.get(f"{BASE}/baseline", headers=READ)).json()
    assert stored["kwh_per_unit"] == pytest.approx(model["kwh_per_unit"])

    period = {"start": "2026-04-13", "end": "2026-04-17", "granularity": "day"}
    response = await client.get(f"{BASE}/savings", params=period, headers=READ)
    assert response.status_code == 200, response.text
    report = response.json()
    rows = table("savings")
    assert report["valid"] and len(report["periods"]) == len(rows)
    for line, row in zip(report["periods"], rows, strict=True):
        assert line["expected_kwh"] == pytest.approx(num(row[3]), abs=1e-3)
        assert line["saving_kwh"] == pytest.approx(num(row[4]), abs=1e-3)
        assert line["cusum_kwh"] == pytest.approx(num(row[5]), abs=1e-3)
    expressed = {row[0]: num(row[1]) for row in table("savings-expressed")}
    total = report["total"]
    assert total["kwh"] == pytest.approx(expressed["kwh"], abs=1e-3)
    assert total["kgce"] == pytest.approx(expressed["kgce"], abs=1e-3)
    assert total["co2_kg"] == pytest.approx(expressed["co2_kg"], abs=1e-3)
    assert report["ids"]["co2_kg"] == ["cn-csg-location-2023"]
    # money at the period's own average ToU price (the page uses a flat 0.62)
    price = Decimal(report["price_per_kwh"])
    money = Decimal(total["money"]["amount"])
    assert money == pytest.approx(Decimal(str(total["kwh"])) * price, rel=Decimal("1e-5"))
    assert report["periods"][-1]["cusum_money"]["rounded"] == total["money"]["rounded"]


async def test_an_area_has_its_own_baseline_and_savings(client: httpx.AsyncClient) -> None:
    body = {"start": "2026-04-01", "end": "2026-04-13", "granularity": "day"}
    area = {"area_id": "electrode"}
    fitted = await client.post(f"{BASE}/baseline", params=area, json=body, headers=WRITE)
    assert fitted.status_code == 200, fitted.text
    model = fitted.json()
    expected = {row[0]: num(row[1]) for row in table("baseline-model")}
    assert model["area_id"] == "electrode" and model["valid"]
    assert model["kwh_per_unit"] == pytest.approx(expected["kwh_per_unit"] * ELECTRODE_SHARE)
    assert model["r_squared"] == pytest.approx(expected["r_squared"], abs=5e-5)
    # the site keeps the energy file's baseline
    site = (await client.get(f"{BASE}/baseline", headers=READ)).json()
    assert site["source"] == "energy_file" and site["model_id"] == "guian-cells-2025"
    period = area | {"start": "2026-04-13", "end": "2026-04-17"}
    report = (await client.get(f"{BASE}/savings", params=period, headers=READ)).json()
    total = num(table("savings")[-1][5]) * ELECTRODE_SHARE
    assert report["total"]["kwh"] == pytest.approx(total, abs=1e-3)
    day = area | {"start": "2026-04-13", "end": "2026-04-14", "by": "day"}
    cost = (await client.get(f"{BASE}/cost", params=day, headers=READ)).json()
    assert cost["quantity"] == pytest.approx(num(table("savings")[0][2]) * ELECTRODE_SHARE)
    assert cost["demand"] == [] and cost["demand_cost"] is None


async def test_a_short_baseline_is_not_valid_and_claims_nothing(client: httpx.AsyncClient) -> None:
    body = {"start": "2026-04-01", "end": "2026-04-09", "granularity": "day"}
    model = (await client.post(f"{BASE}/baseline", json=body, headers=WRITE)).json()
    assert model["n"] == 8 and not model["valid"]
    assert [c["name"] for c in model["checks"] if not c["passed"]] == ["min_points"]
    period = {"start": "2026-04-13", "end": "2026-04-17"}
    report = (await client.get(f"{BASE}/savings", params=period, headers=READ)).json()
    assert not report["valid"] and report["total"]["kwh"] is None
    assert all(p["saving_kwh"] is None for p in report["periods"])
    # dropping the refit goes back to the energy file's baseline (valid, 12 months)
    assert (await client.delete(f"{BASE}/baseline", headers=READ)).status_code == 403
    back = await client.delete(f"{BASE}/baseline", headers=WRITE)
    assert back.status_code == 200 and back.json()["source"] == "energy_file"
    assert back.json()["valid"] and back.json()["n"] == 12
    report = (await client.get(f"{BASE}/savings", params=period, headers=READ)).json()
    assert report["valid"] and report["total"]["kwh"] != 0


async def test_enpi_scorecard_and_targets(client: httpx.AsyncClient) -> None:
    params = {
        "start": "2026-04-13",
        "end": "2026-04-17",
        "baseline_start": "2026-04-01",
        "baseline_end": "2026-04-13",
    }
    response = await client.get(f"{BASE}/enpi", params=params, headers=READ)
    assert response.status_code == 200, response.text
    enpi = {line["name"]: line for line in response.json()["enpis"]}
    base_kwh = sum(num(r[2]) for r in table("baseline-points"))
    base_units = sum(num(r[1]) for r in table("baseline-points"))
    now_kwh = sum(num(r[2]) for r in table("savings"))
    now_units = sum(num(r[1]) for r in table("savings"))
    assert enpi["energy"]["baseline_per_unit"] == pytest.approx(base_kwh / base_units)
    assert enpi["energy"]["reporting_per_unit"] == pytest.approx(now_kwh / now_units)
    assert enpi["comprehensive_energy"]["reporting_per_unit"] == pytest.approx(
        now_kwh * 0.1229 / now_units
    )
    assert enpi["co2"]["reporting_per_unit"] == pytest.approx(now_kwh * 0.4042 / now_units)
    # the file's baseline year (2025) has no readings: its monthly points stand in
    default = await client.get(f"{BASE}/enpi", params={"start": "2026-04-13"}, headers=READ)
    assert default.json()["baseline_source"] == "energy_file_points"

    card = await client.get(f"{BASE}/scorecard", params={"start": "2026-03-01"}, headers=READ)
    months = card.json()["months"]
    assert [m["label"] for m in months] == ["2026-03", "2026-04"]
    march = {s["id"]: s for s in months[0]["scores"]}
    kgce_per_unit = march["unit_product_energy"]["actual"]
    assert kgce_per_unit == pytest.approx((18_500 * 0.1229 + 2000 * 34900 / 29307.6 + 25.71) / 1e4)
    assert march["unit_product_energy"]["score"] is not None
    # the demo plant's 30 GWh of 2026 certificates cover all of March's import
    assert march["renewable_share"]["actual"] == pytest.approx(1.0)
    assert march["renewable_share"]["score"] == pytest.approx(100.0)
    live = (await client.get(f"{BASE}/scorecard/live", headers=READ)).json()
    assert live["months"][0]["label"] == "live"

    targets = (await client.get(f"{BASE}/targets", params=params, headers=READ)).json()
    per_unit = {t["target_id"]: t for t in targets["targets"]}["guian-co2-per-cell-2030"]
    assert per_unit["actual"] == pytest.approx(now_kwh * 0.4042 / now_units)
    assert per_unit["state"] in {"on_track", "off_track"}


async def test_area_routes_and_auth(client: httpx.AsyncClient) -> None:
    routes = [
        "enpi",
        "baseline",
        "savings",
        "cost",
        "comprehensive",
        "scorecard",
        "scorecard/live",
        "targets",
    ]
    for route in routes:
        assert (await client.get(f"{BASE}/{route}")).status_code == 401, route
        bad = {"Authorization": "Bearer nope"}
        assert (await client.get(f"{BASE}/{route}", headers=bad)).status_code == 401, route
    body = {"start": "2026-04-01", "end": "2026-04-13"}
    assert (await client.post(f"{BASE}/baseline", json=body)).status_code == 401
    assert (await client.delete(f"{BASE}/baseline")).status_code == 401
    # a baseline period without readings cannot be fitted: said, not guessed
    empty = {"start": "2025-06-01", "end": "2025-06-10"}
    refused = await client.post(f"{BASE}/baseline", json=empty, headers=WRITE)
    assert refused.status_code == 422 and "at least 3 points" in refused.json()["detail"]
    # an area has no baseline until one is refitted on its own feeders
    area_base = {"area_id": "formation"}
    assert (await client.get(f"{BASE}/baseline", params=area_base, headers=READ)).status_code == 404
    area = {"area_id": "utilities", "start": "2026-03-10", "end": "2026-03-11"}
    kgce = (await client.get(f"{BASE}/comprehensive", params=area, headers=READ)).json()
    assert {line["carrier"] for line in kgce["lines"]} == {"gas", "water"}
    missing = await client.get(f"{BASE}/cost", params={"area_id": "nowhere"}, headers=READ)
    assert missing.status_code == 404


async def test_every_energy_route_documents_its_response_model(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    energy = {path: ops for path, ops in paths.items() if "/energy/" in path}
    assert len(energy) == 8
    for path, ops in energy.items():
        for method, op in ops.items():
            schema = op["responses"]["200"]["content"]["application/json"]["schema"]
            assert schema["$ref"].startswith("#/components/schemas/"), (method, path)
