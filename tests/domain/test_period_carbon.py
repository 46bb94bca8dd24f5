"""A site-local period's figures from 15-minute buckets: the hour of docs/carbon.md, identities."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from app.carbon.catalogue import load_catalogue
from app.domain.allocation import Area
from app.domain.certificates import cover_consumption
from app.domain.instruments import Certificate, Offset
from app.domain.period_carbon import BucketSeries, period_carbon, scope2_by_area
from app.domain.periods import buckets_covering, local_period
from app.domain.time_of_use import value_by_time_of_use
from tests.domain.test_factors import make_factor

GUIAN = ZoneInfo("Asia/Shanghai")
REGIONS = ("site:guian", "CN-GZ", "CN-CSG", "CN")
WATER = make_factor(
    id="site-guian-water-supply",
    region="site:guian",
    resource="water",
    method="supply",
    value=0.17088,
    unit="kgCO2e/m3",
    gas_basis="CO2e",
    data_year=2025,
    valid_from=datetime(2026, 1, 1, tzinfo=GUIAN),
    source="placeholder",
    status="unverified",
)
FACTORS = (*load_catalogue().factors, WATER)
HOUR = local_period("hour", datetime(2026, 6, 15, 10, 20, tzinfo=GUIAN), GUIAN)
AS_OF = datetime(2026, 12, 1, tzinfo=GUIAN)


def each(total: str) -> list[tuple[datetime, Decimal]]:
    return [(b, Decimal(total) / 4) for b in buckets_covering(HOUR.start, HOUR.end)]


def certificate(mwh: str) -> Certificate:
    return Certificate(
        reference="GEC-0615",
        instrument_type="GEC",
        generation_first=date(2026, 6, 1),
        generation_last=date(2026, 6, 15),
        claimed_first=date(2026, 6, 15),
        claimed_last=date(2026, 6, 15),
        quantity=Decimal(mwh),
        unit="MWh",
        registry="China GEC trading platform",
        serial="GEC-52-0615",
        retired_on=date(2026, 6, 16),
    )


SERIES = BucketSeries(
    import_kwh=each("1200"),
    pv_self_consumed_kwh=each("750"),
    consumption_kwh=each("1950"),
    gas_m3=each("40"),
    water_m3=each("10"),
    water_reuse_m3=each("5"),
    baseline_predicted_kwh=each("1800"),
)


def test_the_documented_hour_from_buckets() -> None:
    coverage = cover_consumption([certificate("0.3")], SERIES.import_kwh, GUIAN, as_of=AS_OF)
    figures = period_carbon(HOUR, SERIES, FACTORS, regions=REGIONS, zone=GUIAN, coverage=coverage)
    assert figures.scope1_gas.kg == Decimal("86.480")
    assert figures.scope2_location.kg == Decimal("485.0400")
    assert figures.scope2_market.kg == Decimal("548.6400")
    assert figures.water is not None and figures.water.kg == Decimal("1.70880")
    assert figures.inventory_market_kg == Decimal("635.12")
    assert figures.certificate_covered_kwh == 300
    levers = {x.name: x.kg for x in figures.reductions.levers}
    assert levers == {
        "pv": Decimal("303.15"),
        "efficiency": Decimal("-60.63"),
        "water_reuse": Decimal("0.8544"),
        "certificates": Decimal("182.88"),
    }
    assert figures.reductions.physical_kg == Decimal("243.3744")
    assert figures.inventory_market_basis == "CO2"
    assert figures.factor_ids["scope2_market_kg"] == ("cn-national-market-residual-2023",)
    assert "factor site-guian-water-supply is unverified: check it before reporting" in (
        figures.notes
    )


def test_excess_certificates_are_reported_not_used() -> None:
    coverage = cover_consumption([certificate("2")], SERIES.import_kwh, GUIAN, as_of=AS_OF)
    figures = period_carbon(HOUR, SERIES, FACTORS, regions=REGIONS, zone=GUIAN, coverage=coverage)
    assert figures.certificate_covered_kwh == 1200
    assert figures.scope2_market.kg == 0
    assert coverage.excess_kwh == 800
    assert any("800" in note for note in figures.notes)


def test_offsets_count_in_the_day_not_the_hour() -> None:
    offset = Offset(
        reference="GS-1",
        standard="Gold Standard",
        project="GS cookstoves",
        vintage=2025,
        quantity=Decimal(1),
        unit="tCO2e",
        registry="Gold Standard registry",
        serial="GS1-1-CN-1",
        retired_at=datetime(2026, 6, 14, 16, 30, tzinfo=ZoneInfo("UTC")),  # 15 June 00:30 local
    )
    day = local_period("day", HOUR.start, GUIAN)
    assert (
        period_carbon(
            HOUR, SERIES, FACTORS, regions=REGIONS, zone=GUIAN, offsets=[offset]
        ).offsets.kg
        == 0
    )
    in_day = period_carbon(day, SERIES, FACTORS, regions=REGIONS, zone=GUIAN, offsets=[offset])
    assert in_day.offsets.kg == 1000 and in_day.offsets.basis == "CO2e"
    without = period_carbon(day, SERIES, FACTORS, regions=REGIONS, zone=GUIAN)
    assert in_day.inventory_market_kg == without.inventory_market_kg  # offsets never netted


kwh = st.decimals(min_value=0, max_value=500, places=2)


@settings(max_examples=100, deadline=None)
@given(st.lists(kwh, min_size=96, max_size=96), st.decimals(min_value=0, max_value=10, places=3))
def test_hours_add_up_to_the_day_and_certificates_identity(
    loads: list[Decimal], mwh: Decimal
) -> None:
    day = local_period("day", datetime(2026, 1, 14, 12, tzinfo=GUIAN), GUIAN)  # 2022 factors
    buckets = buckets_covering(day.start, day.end)
    series = BucketSeries(import_kwh=list(zip(buckets, loads, strict=True)))
    jan14 = replace(
        certificate("1"),
        quantity=mwh or Decimal(1),  # zero is refused; no certificate then
        claimed_first=date(2026, 1, 14),
        claimed_last=date(2026, 1, 14),
        generation_first=date(2026, 1, 1),
        generation_last=date(2026, 1, 10),
        retired_on=date(2026, 1, 20),
    )
    certs = [jan14] if mwh > 0 else []
    coverage = cover_consumption(certs, series.import_kwh, GUIAN, as_of=AS_OF)
    whole = period_carbon(day, series, FACTORS, regions=REGIONS, zone=GUIAN, coverage=coverage)
    hours = []
    start = day.start
    while start < day.end:
        hour = local_period("hour", start, GUIAN)
        hours.append(
            period_carbon(hour, series, FACTORS, regions=REGIONS, zone=GUIAN, coverage=coverage)
        )
        start = hour.end
    assert len(hours) == 24
    for name in ("scope2_location", "scope2_market"):
        assert getattr(whole, name).kg == sum(getattr(h, name).kg for h in hours)
    assert whole.certificate_covered_kwh == min(sum(loads), mwh * 1000)
    without = value_by_time_of_use(
        series.import_kwh,
        FACTORS,
        regions=REGIONS,
        resource="electricity",
        method="market_residual",
    )
    lever = whole.reductions.lever("certificates")
    assert whole.scope2_market.kg + (lever.kg if lever else 0) == without.kg
    location_alone = period_carbon(day, series, FACTORS, regions=REGIONS, zone=GUIAN)
    assert location_alone.scope2_location.kg == whole.scope2_location.kg
    assert timedelta(hours=24) == day.duration


def test_scope2_by_area_adds_up_to_the_period() -> None:
    coverage = cover_consumption([certificate("0.3")], SERIES.import_kwh, GUIAN, as_of=AS_OF)
    figures = period_carbon(HOUR, SERIES, FACTORS, regions=REGIONS, zone=GUIAN, coverage=coverage)
    result = scope2_by_area(
        figures,
        site_consumption_kwh=Decimal(1950),
        areas=(Area("cells", meters=("m1",)), Area("formation", meters=("m2",))),
        meter_kwh={"m1": Decimal(975), "m2": Decimal(390)},
    )
    cells = result.area_figures["cells"]
    assert cells["scope2_location_kg"] == Decimal("242.52")  # half the site's 485.04
    assert cells["certificate_covered_kwh"] == 150
    for name, site in result.site.items():
        assert sum(line.figures[name] for line in result.lines) == site
