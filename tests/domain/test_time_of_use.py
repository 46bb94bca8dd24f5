"""Factors by time of use: every bucket valued with the factor valid when it was used."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.carbon.catalogue import load_catalogue
from app.domain.basis import combine_basis, is_mixed
from app.domain.factors import FactorNotFound
from app.domain.periods import local_day_start, month_bounds, spread_decimal
from app.domain.time_of_use import (
    in_period,
    misaligned_windows,
    value_by_time_of_use,
    windows_on_local_days,
)
from tests.domain.doc_tables import example_rows

GUIAN = ZoneInfo("Asia/Shanghai")
REGIONS = ("site:guian", "CN-GZ", "CN-CSG", "CN")
FACTORS = load_catalogue().factors


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=GUIAN)  # type: ignore[misc, arg-type]


def january_readings() -> list[tuple[datetime, Decimal]]:
    """The worked example in docs/carbon.md: three readings in local January 2026."""
    buckets: list[tuple[datetime, Decimal]] = []
    for since, until, kwh in (
        (local(2026, 1, 10, 10), local(2026, 1, 10, 11), "100"),
        (local(2026, 1, 14, 23, 30), local(2026, 1, 15, 0, 30), "120"),
        (local(2026, 1, 20, 10), local(2026, 1, 20, 11), "100"),
    ):
        buckets += spread_decimal(since, until, Decimal(kwh))
    return buckets


def catalogue_value(factor_id: str) -> Decimal:
    factor = next(f for f in FACTORS if f.id == factor_id)
    return Decimal(str(factor.value))


def test_worked_example_january_spans_two_vintages() -> None:
    start, end = month_bounds(2026, 1, GUIAN)
    buckets = in_period(january_readings(), start, end)
    location = value_by_time_of_use(
        buckets, FACTORS, regions=REGIONS, resource="electricity", method="location"
    )
    old, new = catalogue_value("cn-gz-location-2022"), catalogue_value("cn-csg-location-2023")
    assert [(u.factor_id, u.quantity) for u in location.uses] == [
        ("cn-gz-location-2022", Decimal(160)),
        ("cn-csg-location-2023", Decimal(160)),
    ]
    assert location.kg == 160 * old + 160 * new == Decimal("144.496")
    assert location.quantity == Decimal(320)
    assert location.basis == "CO2"
    market = value_by_time_of_use(
        buckets, FACTORS, regions=REGIONS, resource="electricity", method="market_residual"
    )
    assert market.factor_ids == (
        "cn-national-market-residual-2022",
        "cn-national-market-residual-2023",
    )
    assert market.kg == Decimal("191.232")
    assert [u.kg for u in market.uses] == [Decimal("93.696"), Decimal("97.536")]


def test_the_midnight_reading_splits_at_the_vintage_change() -> None:
    shares = spread_decimal(local(2026, 1, 14, 23, 30), local(2026, 1, 15, 0, 30), Decimal(120))
    assert [s for _, s in shares] == [Decimal(30)] * 4
    valued = value_by_time_of_use(
        shares, FACTORS, regions=REGIONS, resource="electricity", method="location"
    )
    assert [(u.factor_id, u.kg) for u in valued.uses] == [
        ("cn-gz-location-2022", Decimal("29.934")),
        ("cn-csg-location-2023", Decimal("24.252")),
    ]
    assert valued.uses[1].first_bucket == datetime(2026, 1, 14, 16, tzinfo=UTC)


def test_january_and_june_use_their_own_factors() -> None:
    buckets = [(local(2026, 1, 10, 10), Decimal(100)), (local(2026, 6, 10, 10), Decimal(100))]
    valued = value_by_time_of_use(
        buckets, FACTORS, regions=REGIONS, resource="electricity", method="location"
    )
    assert valued.kg == Decimal("90.31")  # not 80.84 with the 2023 factor for both


def test_no_factor_before_the_oldest_vintage_is_an_error() -> None:
    with pytest.raises(FactorNotFound, match="CN-GZ"):
        value_by_time_of_use(
            [(local(2023, 6, 1), Decimal(1))],
            FACTORS,
            regions=REGIONS,
            resource="electricity",
            method="location",
        )


def test_negative_only_when_allowed() -> None:
    bucket = [(local(2026, 6, 1), Decimal(-5))]
    with pytest.raises(ValueError, match="≥ 0"):
        value_by_time_of_use(
            bucket, FACTORS, regions=REGIONS, resource="electricity", method="location"
        )
    valued = value_by_time_of_use(
        bucket,
        FACTORS,
        regions=REGIONS,
        resource="electricity",
        method="location",
        allow_negative=True,
    )
    assert valued.kg == Decimal("-2.0210")


def test_basis_labels_mixed_totals() -> None:
    assert combine_basis([("a", "CO2"), ("b", "CO2")]) == "CO2"
    mixed = combine_basis([("cn-grid", "CO2"), ("gb-water", "CO2e"), ("cn-gas", "CO2")])
    assert mixed == "mixed: CO2 [cn-grid, cn-gas]; CO2e [gb-water]"
    assert is_mixed(mixed)
    with pytest.raises(ValueError, match="gas basis"):
        combine_basis([("x", "CH4")])


quarter_hours = st.integers(min_value=0, max_value=4 * 24 * 800).map(
    lambda n: datetime(2024, 12, 20, tzinfo=UTC) + timedelta(minutes=15 * n)
)
kwh = st.decimals(min_value=0, max_value=10_000, places=3)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(quarter_hours, kwh), max_size=40), st.integers(0, 40))
def test_valuation_adds_up_whatever_the_split(
    buckets: list[tuple[datetime, Decimal]], cut: int
) -> None:
    def value(part: list[tuple[datetime, Decimal]]) -> tuple[Decimal, Decimal]:
        v = value_by_time_of_use(
            part, FACTORS, regions=REGIONS, resource="electricity", method="location"
        )
        assert v.kg == sum((u.kg for u in v.uses), Decimal(0))
        assert v.quantity == sum((u.quantity for u in v.uses), Decimal(0))
        for use in v.uses:
            assert use.kg == use.quantity * use.kg_per_unit
        return v.kg, v.quantity

    whole = value(buckets)
    first, second = value(buckets[:cut]), value(buckets[cut:])
    assert whole == (first[0] + second[0], first[1] + second[1])
    assert whole[1] == sum((q for _, q in buckets), Decimal(0))


def test_docs_vintage_table_matches_the_code() -> None:
    start, end = month_bounds(2026, 1, GUIAN)
    buckets = in_period(january_readings(), start, end)
    got: dict[str, Decimal] = {}
    for method, label in (("location", "location"), ("market_residual", "market")):
        v = value_by_time_of_use(
            buckets, FACTORS, regions=REGIONS, resource="electricity", method=method
        )
        got[f"{label}, January"] = v.kg
        for use in v.uses:
            got[f"{label}, `{use.factor_id}`"] = use.kg
    midnight = spread_decimal(local(2026, 1, 14, 23, 30), local(2026, 1, 15, 0, 30), Decimal(120))
    got["reading 2 alone, location"] = value_by_time_of_use(
        midnight, FACTORS, regions=REGIONS, resource="electricity", method="location"
    ).kg
    rows = example_rows("vintages")
    assert {row[0]: Decimal(row[-1]) for row in rows} == got


def test_catalogue_windows_fall_on_buckets_and_on_guian_days() -> None:
    assert misaligned_windows(FACTORS) == ()
    assert windows_on_local_days(FACTORS, REGIONS, GUIAN)
    # the UK windows open at 00:00 UTC: not a local day start in Kolkata
    assert not windows_on_local_days(FACTORS, ("GB",), ZoneInfo("Asia/Kolkata"))
    assert windows_on_local_days(FACTORS, ("GB",), ZoneInfo("Europe/London"))


def test_day_totals_value_like_their_buckets_when_windows_are_on_days() -> None:
    readings = january_readings()
    by_day: dict[datetime, Decimal] = {}
    for bucket, kwh in readings:
        day = local_day_start(bucket, GUIAN)
        by_day[day] = by_day.get(day, Decimal(0)) + kwh
    fine, coarse = (
        value_by_time_of_use(
            data, FACTORS, regions=REGIONS, resource="electricity", method="location"
        )
        for data in (readings, list(by_day.items()))
    )
    assert fine.kg == coarse.kg and fine.factor_ids == coarse.factor_ids
