"""The figures' "this hour" and "today" are the site's local periods, over 15-minute rollups."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.carbon.helpers import READ, api, plant_of, register, write
from tests.conftest import Backend

INDIA_FACTORS = """
version: "test-in-1"
factors:
- id: in-test-location
  region: IN
  resource: electricity
  method: location
  value: 0.71
  unit: kgCO2/kWh
  gas_basis: CO2
  data_year: 2024
  valid_from: 2020-01-01T00:00:00+05:30
  valid_to: null
  source: "test factor for an Indian site"
  status: unverified
"""


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def test_kolkata_this_hour_starts_at_half_past_utc(
    clean_backend: Backend, tmp_path: Path
) -> None:
    factors = tmp_path / "in.yaml"
    factors.write_text(INDIA_FACTORS)
    plant = plant_of(timezone="Asia/Kolkata", country="IN", grid_region=None, province=None)
    # 10:00-10:10 IST is 04:30-04:40 UTC: 10 kWh, then 5 kWh arrive late for 10:00-10:05
    readings = register(
        plant, "grid", [(utc(2026, 3, 2, 4, 30), 0.0), (utc(2026, 3, 2, 4, 40), 10)]
    )
    now = utc(2026, 3, 2, 4, 40, 30)
    write(clean_backend, plant, readings, now)
    write(clean_backend, plant, register(plant, "grid", [(utc(2026, 3, 2, 4, 35), 5.0)]), now)
    async with api(clean_backend, plant, lambda: now, factors) as http:
        body = (await http.get("/api/v1/sites/s1/figures", headers=READ)).json()
        history = (
            await http.get(
                "/api/v1/sites/s1/history?zoom=hour&start=2026-03-02T00:00:00Z"
                "&end=2026-03-03T00:00:00Z",
                headers=READ,
            )
        ).json()
        days = (
            await http.get(
                "/api/v1/sites/s1/history?zoom=day&start=2026-03-01T00:00:00Z"
                "&end=2026-03-03T00:00:00Z",
                headers=READ,
            )
        ).json()

    def used(buckets: list[dict[str, Any]]) -> list[tuple[str, float]]:
        return [
            (b["start"], b["energy"]["electricity_import"])
            for b in buckets
            if b["energy"].get("electricity_import")
        ]

    # history buckets are the site's local hours and days, read from the 15-minute rows
    assert used(history["buckets"]) == [("2026-03-02T04:30:00Z", pytest.approx(10.0))]
    assert used(days["buckets"]) == [("2026-03-01T18:30:00Z", pytest.approx(10.0))]
    hour, today = body["periods"]["hour"], body["periods"]["today"]
    assert (hour["start"], hour["end"]) == ("2026-03-02T04:30:00Z", "2026-03-02T05:30:00Z")
    assert today["start"] == "2026-03-01T18:30:00Z"
    assert hour["energy"]["grid_import_kwh"] == pytest.approx(10)
    assert hour["co2"]["scope2_location_kg"] == pytest.approx(10 * 0.71)
    assert hour["co2"]["factor_ids"]["scope2_location_kg"] == ["in-test-location"]
    assert body["history"]["hours"][-1] == "2026-03-02T04:30:00Z"


async def test_a_fall_back_hour_is_one_hour(clean_backend: Backend) -> None:
    plant = plant_of(timezone="Europe/London", country="GB", grid_region=None, province=None)
    # London falls back at 01:00 UTC on 25 Oct 2026: 01:00-02:00 BST, then 01:00-02:00 GMT
    points = [(utc(2026, 10, 25, 0, 10), 0.0), (utc(2026, 10, 25, 1, 20), 70.0)]
    now = utc(2026, 10, 25, 1, 20, 30)  # 01:20 GMT, the second 01:00 hour
    write(clean_backend, plant, register(plant, "grid", points), now)
    async with api(clean_backend, plant, lambda: now) as http:
        body = (await http.get("/api/v1/sites/s1/figures", headers=READ)).json()
    hour, today = body["periods"]["hour"], body["periods"]["today"]
    assert (hour["start"], hour["end"]) == ("2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z")
    assert hour["energy"]["grid_import_kwh"] == pytest.approx(20)  # 20 of the 70 minutes
    assert (today["start"], today["end"]) == ("2026-10-24T23:00:00Z", "2026-10-26T00:00:00Z")
    assert today["energy"]["grid_import_kwh"] == pytest.approx(70)
    assert "mixed" not in today["co2"]["basis"]["inventory_location_kg"]
