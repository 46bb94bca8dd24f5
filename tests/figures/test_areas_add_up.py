"""For every figure the areas, their unmetered lines and the site remainder add up to the site."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.allocation import allocate
from app.figures.carbon import area_tree
from app.plant.file import load_plant
from tests.carbon.helpers import READ, api, register, write
from tests.conftest import Backend

SITE = load_plant().site("guian")
AREAS = area_tree(SITE)
METERS = sorted({m for a in AREAS for m in a.meters})
kwh = st.decimals(min_value=0, max_value=100_000, places=3)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(kwh, min_size=len(METERS), max_size=len(METERS)),
    kwh,
    st.decimals(min_value=0, max_value=10_000, places=6),
    st.decimals(min_value=0, max_value=10_000, places=6),
)
def test_demo_areas_sum_to_the_site(
    readings: list[Decimal], extra: Decimal, location: Decimal, market: Decimal
) -> None:
    meter_kwh = dict(zip(METERS, readings, strict=True))
    site_kwh = sum(readings, Decimal(0)) + extra
    figures = {"scope2_location_kg": location, "scope2_market_kg": market}
    result = allocate(site_kwh=site_kwh, figures=figures, areas=AREAS, meter_kwh=meter_kwh)
    remainder = next(line for line in result.lines if line.area_id is None)
    for name in figures:
        top = sum((result.area_figures[a][name] for a in result.top_level), Decimal(0))
        assert top + remainder.figures[name] == result.site[name]
    top_kwh = sum((result.area_kwh[a] for a in result.top_level), Decimal(0))
    assert top_kwh + remainder.kwh == site_kwh
    # every meter counts once: utilities is its sub-areas' meters, never more
    under = {"utilities", "compressors", "chillers", "boilers", "water-treatment"}
    expected = sum(
        (meter_kwh[m.id] for m in SITE.meters if m.area in under and m.id in meter_kwh),
        Decimal(0),
    )
    assert result.area_kwh["utilities"] == expected


async def test_site_figures_are_the_sum_of_their_areas(clean_backend: Backend) -> None:
    plant = load_plant()
    start = datetime(2026, 6, 15, 2, tzinfo=UTC)
    deltas = {"el-grid-in-1": 1.0, "pv-inv-01": 800, "el-comp-01": 120, "el-chiller-01": 90}
    deltas |= {"el-wwtp": 40, "el-grid-export": 0.025}
    readings = []
    for meter_id, delta in deltas.items():
        readings += register(
            plant, meter_id, [(start, 1000.0), (start + timedelta(minutes=55), 1000 + delta)]
        )
    now = start + timedelta(minutes=58)
    write(clean_backend, plant, readings, now)
    async with api(clean_backend, plant, lambda: now) as http:
        body = (await http.get("/api/v1/sites/guian/figures", headers=READ)).json()
    for name, period in body["periods"].items():
        areas = period["co2"]["areas"]
        remainder = next(x for x in areas["lines"] if x["area"] is None)
        for figure, site_value in areas["site"].items():
            total = sum(areas["areas"][a][figure] for a in areas["top_level"]) + remainder[figure]
            assert total == pytest.approx(site_value, abs=1e-6), (name, figure)
        assert areas["areas"]["utilities"]["kwh"] == pytest.approx(120 + 90 + 40)
        assert areas["site_kwh"] == pytest.approx(period["energy"]["consumption_kwh"])
