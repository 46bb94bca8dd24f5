"""Emission factors: unit normalisation, validation and resolution."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from app.domain.factors import (
    KG_PER_LB,
    EmissionFactor,
    FactorNotFound,
    InvalidFactorError,
    ResolvedFactor,
    kg_per_canonical_unit,
    resolve_factor,
)

CST = timezone(timedelta(hours=8))
GUIAN_REGIONS = ("site:guian", "CN-GZ", "CN-CSG", "CN")


def make_factor(**fields: Any) -> EmissionFactor:
    """A valid China location factor; keyword arguments replace fields."""
    base: dict[str, Any] = {
        "id": "cn-national-location-2023",
        "region": "CN",
        "resource": "electricity",
        "method": "location",
        "value": 0.5306,
        "unit": "kgCO2/kWh",
        "gas_basis": "CO2",
        "data_year": 2023,
        "valid_from": datetime(2026, 1, 15, tzinfo=CST),
        "valid_to": None,
        "source": "MEE & NBS 2023 notice",
        "status": "secondary",
    }
    base.update(fields)
    return EmissionFactor(**base)


def at(year: int, month: int = 6, day: int = 15) -> datetime:
    return datetime(year, month, day, 10, tzinfo=CST)


# --- units -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "resource", "expected"),
    [
        (0.5306, "kgCO2/kWh", "electricity", 0.5306),
        (0.81, "lbCO2/kWh", "electricity", 0.81 * 0.45359237),
        (810.0, "lbCO2/MWh", "electricity", 0.81 * 0.45359237),
        (0.5703, "tCO2/MWh", "electricity", 0.5703),
        (233.0, "gCO2e/kWh", "electricity", 0.233),
        (2.162, "kgCO2/Nm3", "gas", 2.162),
        (2.162, "kgCO₂/Nm³", "gas", 2.162),
        (0.17088, "kgCO2e/m3", "water", 0.17088),
    ],
)
def test_values_are_normalised_to_kg_per_kwh_or_m3(
    value: float, unit: str, resource: str, expected: float
) -> None:
    assert kg_per_canonical_unit(value, unit, resource) == pytest.approx(expected, rel=1e-12)


def test_pound_is_the_international_pound() -> None:
    assert KG_PER_LB == 0.45359237
    us = make_factor(id="us", region="US", value=0.81, unit="lbCO2/kWh")
    assert us.kg_per_unit == pytest.approx(0.3674, abs=5e-5)


def test_a_gas_factor_per_tj_is_a_reference_row_only() -> None:
    ipcc = make_factor(
        id="ipcc",
        region="GLOBAL",
        resource="gas",
        method="fuel",
        value=56100,
        unit="kgCO2/TJ",
        data_year=2006,
    )
    assert ipcc.kg_per_unit is None
    with pytest.raises(ValueError, match="reference row"):
        ResolvedFactor(ipcc)
    with pytest.raises(FactorNotFound):
        resolve_factor([ipcc], regions=["GLOBAL"], resource="gas", method="fuel", at=at(2026))


@pytest.mark.parametrize(
    ("fields", "field_name"),
    [
        ({"unit": "kgCO2/m3"}, "unit"),
        ({"unit": "kg per kWh"}, "unit"),
        ({"unit": "kgCO2/furlong"}, "unit"),
        ({"unit": "kgCO2e/kWh"}, "gas_basis"),
        ({"gas_basis": "N2O"}, "gas_basis"),
        ({"region": "Guizhou"}, "region"),
        ({"resource": "steam"}, "resource"),
        ({"method": "fuel"}, "method"),
        ({"value": -1.0}, "value"),
        ({"value": float("nan")}, "value"),
        ({"data_year": 23}, "data_year"),
        ({"valid_from": datetime(2026, 1, 15)}, "valid_from"),
        ({"valid_to": datetime(2026, 1, 15, tzinfo=CST)}, "valid_to"),
        ({"source": " "}, "source"),
        ({"status": "official"}, "status"),
        ({"id": "has space"}, "id"),
    ],
)
def test_invalid_fields_are_named(fields: dict[str, Any], field_name: str) -> None:
    with pytest.raises(InvalidFactorError) as caught:
        make_factor(**fields)
    assert caught.value.field_name == field_name


# --- resolution ------------------------------------------------------------


def test_most_specific_region_wins_in_the_callers_order() -> None:
    country = make_factor(id="cn", region="CN", value=0.5306)
    grid = make_factor(id="csg", region="CN-CSG", value=0.4042)
    province = make_factor(id="gz", region="CN-GZ", value=0.4989)
    site = make_factor(id="site", region="site:guian", value=0.3)
    everything = [country, grid, province, site]

    def pick(factors: list[EmissionFactor], regions: tuple[str, ...] = GUIAN_REGIONS) -> str:
        found = resolve_factor(
            factors, regions=regions, resource="electricity", method="location", at=at(2026)
        )
        return found.factor_id

    assert pick(everything) == "site"
    assert pick([country, grid, province]) == "gz"
    assert pick([country, grid]) == "csg"
    assert pick([country]) == "cn"
    assert pick(everything, regions=("site:other", "CN-GZ", "CN-CSG", "CN")) == "gz"


def test_validity_window_is_half_open_and_respected() -> None:
    old = make_factor(
        id="gz-2022",
        region="CN-GZ",
        data_year=2022,
        valid_from=datetime(2024, 12, 20, tzinfo=CST),
        valid_to=datetime(2026, 1, 15, tzinfo=CST),
    )
    grid = make_factor(id="csg-2023", region="CN-CSG", valid_from=datetime(2026, 1, 15, tzinfo=CST))

    def pick(moment: datetime) -> str:
        return resolve_factor(
            [old, grid], regions=GUIAN_REGIONS, resource="electricity", method="location", at=moment
        ).factor_id

    assert pick(at(2025)) == "gz-2022"
    assert pick(datetime(2026, 1, 14, 23, 59, 59, tzinfo=CST)) == "gz-2022"
    assert pick(datetime(2026, 1, 15, tzinfo=CST)) == "csg-2023"  # valid_to is exclusive
    assert pick(datetime(2026, 1, 14, 16, tzinfo=UTC)) == "csg-2023"  # same instant, in UTC
    with pytest.raises(FactorNotFound):
        pick(datetime(2024, 12, 19, tzinfo=CST))


def test_overlapping_windows_pick_the_newest_data_year() -> None:
    older = make_factor(id="cn-2022", data_year=2022, valid_from=datetime(2024, 1, 1, tzinfo=UTC))
    newer = make_factor(id="cn-2023", data_year=2023, valid_from=datetime(2025, 1, 1, tzinfo=UTC))
    found = resolve_factor(
        [newer, older], regions=["CN"], resource="electricity", method="location", at=at(2026)
    )
    assert found.factor_id == "cn-2023"


def test_market_based_uses_residual_from_any_region_before_falling_back() -> None:
    province = make_factor(id="gz", region="CN-GZ", value=0.4989)
    residual = make_factor(id="cn-residual", method="market_residual", value=0.6096)
    found = resolve_factor(
        [province, residual],
        regions=GUIAN_REGIONS,
        resource="electricity",
        method="market_residual",
        at=at(2026),
    )
    assert found.factor_id == "cn-residual"
    assert found.fallback_from is None


def test_market_based_falls_back_to_location_and_says_so() -> None:
    grid = make_factor(id="gb", region="GB", unit="kgCO2e/kWh", gas_basis="CO2e", value=0.177)
    found = resolve_factor(
        [grid], regions=["GB"], resource="electricity", method="market_residual", at=at(2026)
    )
    assert found.factor_id == "gb"
    assert found.fallback_from == "market_residual"
    assert found.kg_per_unit == 0.177


def test_factor_not_found_names_regions_resource_method_and_time() -> None:
    moment = datetime(2023, 3, 1, 8, tzinfo=CST)
    with pytest.raises(FactorNotFound) as caught:
        resolve_factor(
            [make_factor()], regions=GUIAN_REGIONS, resource="gas", method="fuel", at=moment
        )
    message = str(caught.value)
    for part in ("gas", "'fuel'", "CN-GZ", "site:guian", "2023-03-01T08:00:00+08:00"):
        assert part in message
    assert isinstance(caught.value, LookupError)
    assert caught.value.regions == GUIAN_REGIONS


def test_factor_not_found_for_market_says_no_fallback_either() -> None:
    with pytest.raises(FactorNotFound, match="nor a location factor"):
        resolve_factor(
            [make_factor()],
            regions=["GB"],
            resource="electricity",
            method="market_residual",
            at=at(2026),
        )


def test_reading_time_needs_an_offset() -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        resolve_factor(
            [make_factor()],
            regions=["CN"],
            resource="electricity",
            method="location",
            at=datetime(2026, 6, 1),
        )


def test_other_resources_are_not_mixed_up() -> None:
    gas = make_factor(id="gas", resource="gas", method="fuel", value=2.162, unit="kgCO2/Nm3")
    power = make_factor(id="power")
    found = resolve_factor([power, gas], regions=["CN"], resource="gas", method="fuel", at=at(2026))
    assert found.factor_id == "gas"
    assert replace(found.factor, notes="x").kg_per_unit == 2.162
