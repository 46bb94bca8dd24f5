"""docs/carbon.md's worked examples, recomputed from real readings on all three backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.carbon.helpers import READ, WRITE, api, factor, meter, plant_of, register, write
from tests.conftest import Backend

D = Decimal


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def test_a_month_spanning_two_factor_vintages(clean_backend: Backend) -> None:
    plant = plant_of()
    # local (UTC+8): 10 Jan 10:00-11:00 100 kWh; 14 Jan 23:30 - 15 Jan 00:30 120 kWh;
    # 20 Jan 10:00-11:00 100 kWh (the 2023 factors apply from 15 Jan 00:00 local)
    points = [
        (utc(2026, 1, 10, 2), 1000.0),
        (utc(2026, 1, 10, 3), 1100.0),
        (utc(2026, 1, 14, 15, 30), 1100.0),
        (utc(2026, 1, 14, 16, 30), 1220.0),
        (utc(2026, 1, 20, 2), 1220.0),
        (utc(2026, 1, 20, 3), 1320.0),
    ]
    now = utc(2026, 1, 31, 4)
    write(clean_backend, plant, register(plant, "grid", points), now)
    async with api(clean_backend, plant, lambda: now) as http:
        month = (await http.get("/api/v1/sites/s1/figures", headers=READ)).json()["periods"][
            "month"
        ]
    assert month["start"] == "2025-12-31T16:00:00Z"
    co2 = month["co2"]
    gz22, csg23 = factor("cn-gz-location-2022"), factor("cn-csg-location-2023")
    res22 = factor("cn-national-market-residual-2022")
    res23 = factor("cn-national-market-residual-2023")
    location = {u["factor_id"]: u for u in co2["factor_uses"]["scope2_location_kg"]}
    assert location.keys() == {"cn-gz-location-2022", "cn-csg-location-2023"}
    assert location["cn-gz-location-2022"]["quantity"] == pytest.approx(160)
    assert location["cn-csg-location-2023"]["quantity"] == pytest.approx(160)
    assert co2["scope2_location_kg"] == pytest.approx(float(160 * gz22 + 160 * csg23))
    assert co2["scope2_market_kg"] == pytest.approx(float(160 * res22 + 160 * res23))
    assert co2["factor_ids"]["scope2_location_kg"] == [
        "cn-gz-location-2022",
        "cn-csg-location-2023",
    ]
    assert co2["basis"]["inventory_location_kg"] == "CO2"
    # valued only with the 2023 factor it would have read 320 x 0.4042
    assert co2["scope2_location_kg"] != pytest.approx(float(320 * csg23))


async def test_offsets_near_midnight_utc(clean_backend: Backend) -> None:
    plant = plant_of()
    # 10,000 kWh imported on 1 April (local) gives the April inventory
    points = [(utc(2026, 4, 1, 2), 0.0), (utc(2026, 4, 1, 3), 10_000.0)]
    now = utc(2026, 4, 1, 4)  # 12:00 on 1 April in Gui'an
    write(clean_backend, plant, register(plant, "grid", points), now)
    async with api(clean_backend, plant, lambda: now) as http:
        url = "/api/v1/sites/s1/offsets"
        vcs = {
            "reference": "VCS-0001",
            "standard": "VCS",
            "project": "VCS 1234 cookstoves",
            "vintage": 2024,
            "quantity": "12.5",
            "registry": "Verra",
            "serial": "VCS-1234-2024-0001",
            "retired_at": "2026-03-31T17:30:00Z",
        }
        ccer = {
            **vcs,
            "reference": "CCER-0007",
            "standard": "CCER",
            "vintage": 2025,
            "quantity": "3",
            "registry": "CCER registry",
            "serial": "CCER-7",
            "retired_at": "2025-12-31",
        }
        assert (await http.post(url, json=vcs, headers=WRITE)).status_code == 201
        assert (await http.post(url, json=ccer, headers=WRITE)).status_code == 201
        listed = {o["reference"]: o for o in (await http.get(url, headers=READ)).json()}
        assert listed["VCS-0001"]["retired_local_date"] == "2026-04-01"

        async def claim(first: str, after: str, verified: bool = False) -> dict[str, object]:
            q = f"/api/v1/sites/s1/neutrality?first={first}&after_last={after}"
            response = await http.get(q + f"&verified={str(verified).lower()}", headers=READ)
            assert response.status_code == 200, response.text
            body: dict[str, object] = response.json()
            return body

        march = await claim("2026-03-01", "2026-04-01")
        april = await claim("2026-04-01", "2026-05-01")
        y2025 = await claim("2025-01-01", "2026-01-01")
        y2026 = await claim("2026-01-01", "2027-01-01", verified=True)
        figures = (await http.get("/api/v1/sites/s1/figures", headers=READ)).json()
    assert (march["offsets_kg"], march["offset_references"]) == (0, [])
    assert (april["offsets_kg"], april["offset_references"]) == (12500, ["VCS-0001"])
    assert (y2025["offsets_kg"], y2025["offset_references"]) == (3000, ["CCER-0007"])
    assert y2026["offset_references"] == ["VCS-0001"]
    emissions = float(10_000 * factor("cn-national-market-residual-2023"))
    assert april["emissions_kg"] == pytest.approx(emissions)
    assert april["residual_kg"] == pytest.approx(emissions)
    assert april["shortfall_kg"] == 0
    assert april["offsets_beyond_residual_kg"] == pytest.approx(12500 - emissions)
    assert april["claim_supported"] is False  # no physical reduction, not verified
    assert april["basis"] == "mixed: emissions CO2; offsets CO2e"
    assert [c["name"] for c in april["conditions"]] == [  # type: ignore[union-attr]
        "reduce first",
        "offsets only for the residual",
        "residual covered by offsets retired for the period",
        "independent verification",
    ]
    # the wall's "today" is the local 1 April: the offset retired at 17:30 UTC counts
    today = figures["periods"]["today"]["co2"]
    assert today["offsets_retired_kg"] == 12500
    assert today["basis"]["offsets_retired_kg"] == "CO2e"
    assert figures["periods"]["hour"]["co2"]["offsets_retired_kg"] == 0


AREAS = [
    {"id": "production", "name": "production"},
    {
        "id": "utilities",
        "name": "utilities",
        "feeder": "m-util",
        "areas": [{"id": "boilers", "name": "boilers"}],
    },
]
AREA_METERS = [
    meter("m-line1", "production", "electricity"),
    meter("m-line2", "production", "electricity"),
    meter("m-util", "utilities", "electricity"),
    meter("m-compressors", "utilities", "electricity"),
    meter("m-boilers", "boilers", "electricity"),
]
AREA_KWH = {"grid": 1000, "m-line1": 400, "m-line2": 250, "m-util": 200, "m-compressors": 50}
AREA_KWH["m-boilers"] = 120


async def test_areas_add_up(clean_backend: Backend) -> None:
    certificate = {
        "period_start": "2026-06-15",
        "period_end": "2026-06-16",
        "mwh": 0.3,
        "reference": "GEC-areas",
    }
    plant = plant_of(areas=AREAS, meters=AREA_METERS, certificates=[certificate])
    start = utc(2026, 6, 15, 2)
    readings = []
    for mid, kwh in AREA_KWH.items():
        readings += register(plant, mid, [(start, 0.0), (start + timedelta(hours=1), kwh)])
    now = utc(2026, 6, 15, 3, 5)
    write(clean_backend, plant, readings, now)
    async with api(clean_backend, plant, lambda: now) as http:
        figures = (await http.get("/api/v1/sites/s1/figures", headers=READ)).json()
        utilities = (
            await http.get("/api/v1/sites/s1/areas/utilities/figures", headers=READ)
        ).json()
    loc, res = factor("cn-csg-location-2023"), factor("cn-national-market-residual-2023")
    today = figures["periods"]["today"]["co2"]
    assert today["scope2_location_kg"] == pytest.approx(float(1000 * loc))
    assert today["scope2_market_kg"] == pytest.approx(float(700 * res))
    assert today["certificate_covered_kwh"] == pytest.approx(300)
    lines = {(x["area"], x["kind"]): x for x in today["areas"]["lines"]}
    expected_kwh = {
        ("production", "metered"): 650,
        ("boilers", "metered"): 120,
        ("utilities", "metered"): 50,
        ("utilities", "unmetered"): 30,
        (None, "remainder"): 150,
    }
    for key, kwh in expected_kwh.items():
        line = lines[key]
        share = D(kwh) / 1000
        assert line["kwh"] == pytest.approx(kwh)
        assert line["scope2_location_kg"] == pytest.approx(float(share * 1000 * loc))
        assert line["scope2_market_kg"] == pytest.approx(float(share * 700 * res))
        assert line["certificate_covered_kwh"] == pytest.approx(float(share * 300))
    area = today["areas"]["areas"]["utilities"]
    assert area["kwh"] == pytest.approx(200)  # boilers counted once
    assert area["scope2_location_kg"] == pytest.approx(float(200 * loc))
    assert area["scope2_market_kg"] == pytest.approx(float(D("0.2") * 700 * res))
    # the area endpoint shows the same share
    mine = utilities["periods"]["today"]["co2"]
    assert mine["scope2_location_kg"] == pytest.approx(area["scope2_location_kg"])
    assert mine["scope2_market_kg"] == pytest.approx(area["scope2_market_kg"])
