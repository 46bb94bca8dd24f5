"""History from real readings: every zoom, CO₂ by the factor valid then, cost by ToU period."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from app.carbon.catalogue import load_catalogue
from app.domain.factors import resolve_factor
from app.domain.tariffs import resolve_schedule
from app.energy.file import demo_energy_path, load_energy_file
from app.history.queries import FINE_RESOLUTION
from tests.history.conftest import HOURS, OVERRIDES, READ, START, ZONE, Fed

REGIONS = ("site:guian", "CN-GZ", "CN-CSG", "CN")


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def kg_per_unit(resource: str, method: str, at: datetime) -> float:
    factors = load_catalogue(overrides=OVERRIDES).factors
    found = resolve_factor(factors, regions=REGIONS, resource=resource, method=method, at=at)
    return float(found.kg_per_unit)


def price(resource: str, at: datetime) -> Decimal:
    schedules = load_energy_file(demo_energy_path(), zone=ZONE).tariffs
    schedule = resolve_schedule(schedules, resource=resource, at=at)
    return schedule.price(schedule.period_at(at.astimezone(ZONE)))


def expected_hour(fed: Fed, h: datetime) -> dict[str, float | Decimal]:
    end = h + timedelta(hours=1)
    grid = fed.total("el-grid-in-1", h, end)
    gas = fed.total("gas-boiler-01", h, end)
    water = fed.total("water-main", h, end)
    return {
        "grid": grid,
        "co2_location": grid * kg_per_unit("electricity", "location", h)
        + gas * kg_per_unit("gas", "fuel", h),
        "co2_market": grid * kg_per_unit("electricity", "market_residual", h)
        + gas * kg_per_unit("gas", "fuel", h),
        "cost": Decimal(repr(grid)) * price("electricity", h)
        + Decimal(repr(gas)) * price("gas", h)
        + Decimal(repr(water)) * price("water", h),
    }


async def get(client: httpx.AsyncClient, **params: str) -> dict:  # type: ignore[type-arg]
    response = await client.get("/api/v1/sites/guian/history", params=params, headers=READ)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_hours_carry_energy_co2_and_cost(client: httpx.AsyncClient, fed: Fed) -> None:
    end = START + timedelta(hours=HOURS)
    data = await get(client, zoom="hour", start=_iso(START), end=_iso(end))
    assert data["source"] == f"rollups:{FINE_RESOLUTION}"
    assert len(data["buckets"]) == HOURS
    for bucket in data["buckets"]:
        h = datetime.fromisoformat(bucket["start"])
        want = expected_hour(fed, h)
        assert bucket["energy"]["electricity_import"] == pytest.approx(want["grid"], rel=1e-9)
        assert bucket["co2_location_kg"] == pytest.approx(want["co2_location"], rel=1e-9)
        assert bucket["co2_market_kg"] == pytest.approx(want["co2_market"], rel=1e-9)
        assert abs(Decimal(bucket["cost"]) - want["cost"]) <= Decimal("0.01"), bucket["start"]
    # a peak hour costs more per kWh than a valley hour (ToU prices reach the figures)
    by_local_hour = {
        datetime.fromisoformat(b["start"]).astimezone(ZONE).hour: b for b in data["buckets"][:24]
    }
    peak, valley = by_local_hour[10], by_local_hour[3]
    assert Decimal(peak["cost_by_resource"]["electricity"]) / Decimal(
        str(peak["energy"]["electricity_import"])
    ) > Decimal(valley["cost_by_resource"]["electricity"]) / Decimal(
        str(valley["energy"]["electricity_import"])
    )
    ids = data["factor_ids"]["co2_location_kg"]
    assert "cn-csg-location-2023" in ids and "cn-gas-fuel-gbt32150-2015" in ids
    assert data["cost_info"]["currency"] == "CNY"
    assert data["cost_info"]["schedule_ids"]


async def test_every_coarser_zoom_adds_up_to_the_same_totals(
    client: httpx.AsyncClient, fed: Fed
) -> None:
    end = START + timedelta(hours=HOURS)
    hourly = await get(client, zoom="hour", start=_iso(START), end=_iso(end))
    grid_total = fed.total("el-grid-in-1", START, end)
    for zoom, count in (("day", 3), ("week", 1), ("month", 1), ("year", 1)):
        data = await get(client, zoom=zoom, start=_iso(START), end=_iso(end))
        assert len(data["buckets"]) == count, zoom
        assert data["buckets"][0]["start"] == "2026-06-14T16:00:00Z" or zoom in ("month", "year")
        totals = data["totals"]
        assert totals["energy"]["electricity_import"] == pytest.approx(grid_total, rel=1e-9)
        assert totals["co2_location_kg"] == pytest.approx(
            hourly["totals"]["co2_location_kg"], rel=1e-9
        )
        assert totals["cost_exact"] == hourly["totals"]["cost_exact"], zoom
    days = (await get(client, zoom="day", start=_iso(START), end=_iso(end)))["buckets"]
    # site-local days: 15 June starts at 16:00 UTC on the 14th
    first_day = fed.total("el-grid-in-1", START, START + timedelta(days=1))
    assert days[0]["energy"]["electricity_import"] == pytest.approx(first_day, rel=1e-9)
    month = (await get(client, zoom="month", start=_iso(START), end=_iso(end)))["buckets"][0]
    assert month["start"] == "2026-05-31T16:00:00Z" and month["end"] == "2026-06-30T16:00:00Z"


async def test_minutes_and_quarter_hours_come_from_readings(
    client: httpx.AsyncClient, fed: Fed
) -> None:
    start, end = START + timedelta(hours=2), START + timedelta(hours=3)
    minutes = await get(client, zoom="minute", start=_iso(start), end=_iso(end))
    assert minutes["source"] == "readings" and len(minutes["buckets"]) == 60
    first_interval = fed.total("el-grid-in-1", start, start + timedelta(minutes=5))
    for bucket in minutes["buckets"][:5]:  # (start, start + 5 min] spread over five minutes
        assert bucket["energy"]["electricity_import"] == pytest.approx(first_interval / 5)
    quarters = await get(client, zoom="15min", start=_iso(start), end=_iso(end))
    assert len(quarters["buckets"]) == 4
    for bucket in quarters["buckets"]:
        b = datetime.fromisoformat(bucket["start"])
        want = fed.total("el-grid-in-1", b, b + timedelta(minutes=15))
        assert bucket["energy"]["electricity_import"] == pytest.approx(want)
    hour = await get(client, zoom="hour", start=_iso(start), end=_iso(end))
    assert quarters["totals"]["cost_exact"] is not None
    assert Decimal(quarters["totals"]["cost"]) == Decimal(hour["totals"]["cost"])
    assert quarters["totals"]["co2_location_kg"] == pytest.approx(
        hour["totals"]["co2_location_kg"], rel=1e-9
    )


async def test_area_and_meter_narrow_the_history(client: httpx.AsyncClient, fed: Fed) -> None:
    end = START + timedelta(hours=HOURS)
    area = await get(client, zoom="day", area="utilities", start=_iso(START), end=_iso(end))
    assert "electricity_import" not in area["units"]
    comp = fed.total("el-comp-01", START, end)
    gas = fed.total("gas-boiler-01", START, end)
    assert area["totals"]["energy"]["electricity"] == pytest.approx(comp, rel=1e-9)
    assert area["totals"]["energy"]["gas"] == pytest.approx(gas, rel=1e-9)
    # an area's electricity is its feeders', valued with the grid factor
    want = comp * kg_per_unit("electricity", "location", START) + gas * kg_per_unit(
        "gas", "fuel", START
    )
    assert area["totals"]["co2_location_kg"] == pytest.approx(want, rel=1e-9)
    meter = await get(client, zoom="day", meter="gas-boiler-01", start=_iso(START), end=_iso(end))
    assert meter["units"] == {"gas": "m3"}
    assert meter["totals"]["energy"]["gas"] == pytest.approx(gas, rel=1e-9)
    assert meter["totals"]["co2_location_kg"] == pytest.approx(
        gas * kg_per_unit("gas", "fuel", START), rel=1e-9
    )


async def test_comparison_with_the_day_before(client: httpx.AsyncClient, fed: Fed) -> None:
    day2 = START + timedelta(days=1)
    data = await get(
        client,
        zoom="hour",
        start=_iso(day2),
        end=_iso(day2 + timedelta(days=1)),
        compare="previous",
    )
    other = data["comparison"]
    assert other["start"] == _iso(START) and other["end"] == _iso(day2)
    assert other["totals"]["energy"]["electricity_import"] == pytest.approx(
        fed.total("el-grid-in-1", START, day2), rel=1e-9
    )
    year = await get(client, zoom="month", period="this_month", compare="year_before")
    assert year["comparison"]["start"] == "2025-05-31T16:00:00Z"
    assert year["comparison"]["totals"]["energy"]["electricity_import"] == 0


async def test_bad_requests_are_refused_clearly(client: httpx.AsyncClient) -> None:
    url = "/api/v1/sites/guian/history"
    assert (await client.get(url, params={"zoom": "decade"}, headers=READ)).status_code == 422
    long = {"zoom": "minute", "start": "2026-06-01T00:00:00Z", "end": "2026-06-12T00:00:00Z"}
    response = await client.get(url, params=long, headers=READ)
    assert response.status_code == 422 and "coarser zoom" in response.text
    both = await client.get(url, params={"area": "utilities", "meter": "x"}, headers=READ)
    assert both.status_code == 422
    assert (await client.get(url, params={"area": "nowhere"}, headers=READ)).status_code == 404
    assert (await client.get(url)).status_code == 401
    naive = await client.get(url, params={"start": "2026-06-01T00:00:00"}, headers=READ)
    assert naive.status_code == 422
