"""CO₂ accounting: the documented worked example, the identities, the edge cases."""

from __future__ import annotations

import math
import re
from dataclasses import fields
from datetime import datetime, timedelta, timezone
from itertools import accumulate
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.carbon.catalogue import load_catalogue
from app.domain.carbon import (
    CarbonFactors,
    CarbonFigures,
    EnergyTotals,
    EnpiBaseline,
    MissingFactorError,
    allocate_certificates,
    carbon_neutral_status,
    compute_carbon,
    enpi,
    enpi_improvement,
    enpi_savings_kwh,
    resolve_carbon_factors,
)
from app.domain.factors import ResolvedFactor
from tests.domain.test_factors import make_factor

CST = timezone(timedelta(hours=8))
DOC = Path(__file__).resolve().parents[2] / "docs" / "carbon.md"


def grid_factor(kg: float, fid: str = "grid") -> ResolvedFactor:
    return ResolvedFactor(make_factor(id=fid, value=kg))


def residual_factor(kg: float) -> ResolvedFactor:
    return ResolvedFactor(make_factor(id="residual", method="market_residual", value=kg))


def gas_factor(kg: float = 2.162) -> ResolvedFactor:
    return ResolvedFactor(
        make_factor(id="gas", resource="gas", method="fuel", value=kg, unit="kgCO2/Nm3")
    )


def water_factor(kg: float = 0.17088) -> ResolvedFactor:
    return ResolvedFactor(
        make_factor(
            id="water",
            resource="water",
            method="supply",
            value=kg,
            unit="kgCO2e/m3",
            gas_basis="CO2e",
        )
    )


def factors(grid_kg: float = 0.4042, market_kg: float | None = 0.6096) -> CarbonFactors:
    grid = grid_factor(grid_kg)
    market = (
        ResolvedFactor(grid.factor, fallback_from="market_residual")
        if market_kg is None
        else residual_factor(market_kg)
    )
    return CarbonFactors(grid=grid, market=market, gas=gas_factor(), water=water_factor())


# --- the worked example in docs/carbon.md ----------------------------------

WORKED_EXAMPLE = {
    "scope1_gas_kg": 86.48,
    "scope2_location_kg": 485.04,
    "scope2_market_kg": 548.64,
    "water_kg": 1.7088,
    "inventory_location_kg": 571.52,
    "inventory_market_kg": 635.12,
    "avoided_pv_kg": 303.15,
    "pv": 303.15,
    "certificates": 182.88,
    "efficiency": -60.63,
    "water_reuse": 0.8544,
    "co2_reduced_kg": 426.2544,
    "offsets_retired_kg": 0.0,
}


def worked_example() -> CarbonFigures:
    water_override = make_factor(
        id="site-guian-water-supply",
        region="site:guian",
        resource="water",
        method="supply",
        value=0.17088,
        unit="kgCO2e/m3",
        gas_basis="CO2e",
        data_year=2025,
        valid_from=datetime(2026, 1, 1, tzinfo=CST),
        source="placeholder",
        status="unverified",
    )
    resolved = resolve_carbon_factors(
        (*load_catalogue().factors, water_override),
        regions=("site:guian", "CN-GZ", "CN-CSG", "CN"),
        at=datetime(2026, 6, 15, 10, tzinfo=CST),
    )
    assert resolved.grid.factor_id == "cn-csg-location-2023"
    assert resolved.market.factor_id == "cn-national-market-residual-2023"
    assert resolved.gas is not None and resolved.gas.factor_id == "cn-gas-fuel-gbt32150-2015"
    assert resolved.water is not None and resolved.water.factor_id == "site-guian-water-supply"
    totals = EnergyTotals(
        electricity_import_kwh=1200,
        electricity_export_kwh=50,
        pv_generated_kwh=800,
        gas_m3=40,
        water_m3=10,
        water_reuse_m3=5,
        production_units=900,
    )
    return compute_carbon(
        totals,
        resolved,
        certificate_kwh=300,
        baseline=EnpiBaseline(kwh_per_unit=2.0, period="2025"),
    )


def figure_values(figures: CarbonFigures) -> dict[str, float | None]:
    values: dict[str, float | None] = {
        name: getattr(figures, name) for name in WORKED_EXAMPLE if hasattr(figures, name)
    }
    values.update({lever.name: lever.kg for lever in figures.levers})
    return values


def test_worked_example_computes_the_documented_numbers() -> None:
    figures = worked_example()
    got = figure_values(figures)
    assert got.keys() == WORKED_EXAMPLE.keys()
    for name, expected in WORKED_EXAMPLE.items():
        assert got[name] == pytest.approx(expected, abs=1e-9), name
    assert figures.pv_self_consumed_kwh == 750
    assert figures.certificate_covered_kwh == 300
    status = carbon_neutral_status(figures)
    assert status.claim == "not carbon neutral: 635.12 kg of residual emissions not offset"


def test_worked_example_table_in_the_doc_matches() -> None:
    text = DOC.read_text(encoding="utf-8")
    table = text.split("<!-- worked-example:start -->")[1].split("<!-- worked-example:end -->")[0]
    documented: dict[str, float] = {}
    for line in table.splitlines():
        row = re.match(r"^\| `(\w+)`[^|]*\|[^|]*\| ([−\-\d.,]+) \|$", line)
        if row:
            documented[row[1]] = float(row[2].replace(",", "").replace("−", "-"))
    assert documented == WORKED_EXAMPLE


# --- identities, for any inputs --------------------------------------------

quantity = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
factor_kg = st.floats(min_value=0, max_value=2, allow_nan=False, allow_infinity=False)


@st.composite
def energy_totals(draw: st.DrawFn) -> EnergyTotals:
    return EnergyTotals(
        electricity_import_kwh=draw(quantity),
        electricity_export_kwh=draw(quantity),
        pv_generated_kwh=draw(quantity),
        gas_m3=draw(quantity),
        water_m3=draw(quantity),
        water_reuse_m3=draw(quantity),
        production_units=draw(quantity),
    )


@st.composite
def carbon_factors(draw: st.DrawFn) -> CarbonFactors:
    return factors(draw(factor_kg), draw(st.one_of(st.none(), factor_kg)))


baselines = st.one_of(
    st.none(),
    st.builds(
        EnpiBaseline, kwh_per_unit=st.floats(min_value=0.01, max_value=100), period=st.just("2025")
    ),
)


@given(energy_totals(), carbon_factors(), quantity, quantity, baselines, st.booleans())
def test_co2_reduced_is_the_sum_of_the_levers(
    totals: EnergyTotals,
    resolved: CarbonFactors,
    certificate_kwh: float,
    offsets_kg: float,
    baseline: EnpiBaseline | None,
    pv_sold: bool,
) -> None:
    figures = compute_carbon(
        totals,
        resolved,
        certificate_kwh=certificate_kwh,
        offsets_retired_kg=offsets_kg,
        baseline=baseline,
        pv_certificates_sold=pv_sold,
    )
    assert figures.co2_reduced_kg == math.fsum(lever.kg for lever in figures.levers)
    assert figures.inventory_location_kg == figures.scope1_gas_kg + figures.scope2_location_kg
    assert figures.inventory_market_kg == figures.scope1_gas_kg + figures.scope2_market_kg
    assert figures.lever("pv") is not None and figures.lever("certificates") is not None
    assert (figures.lever("efficiency") is None) == (
        baseline is None or totals.production_units == 0
    )
    for item in fields(figures):
        if item.name.endswith("_kg"):
            assert item.name in figures.factor_ids


@given(energy_totals(), factor_kg, factor_kg, quantity)
def test_market_never_exceeds_location_when_residual_is_not_higher(
    totals: EnergyTotals, grid_kg: float, residual_kg: float, certificate_kwh: float
) -> None:
    residual_kg = min(residual_kg, grid_kg)
    figures = compute_carbon(totals, factors(grid_kg, residual_kg), certificate_kwh=certificate_kwh)
    assert figures.scope2_market_kg <= figures.scope2_location_kg + 1e-9


@given(energy_totals(), carbon_factors(), quantity)
def test_location_minus_market_is_certificates_plus_residual_adjustment(
    totals: EnergyTotals, resolved: CarbonFactors, certificate_kwh: float
) -> None:
    figures = compute_carbon(totals, resolved, certificate_kwh=certificate_kwh)
    certificates = figures.lever("certificates")
    assert certificates is not None
    adjustment = totals.electricity_import_kwh * (
        resolved.grid.kg_per_unit - resolved.market.kg_per_unit
    )
    assert figures.scope2_location_kg - figures.scope2_market_kg == pytest.approx(
        certificates.kg + adjustment, rel=1e-9, abs=1e-6
    )
    # without the certificates, market-based would be higher by exactly the lever
    without = compute_carbon(totals, resolved)
    assert without.scope2_market_kg == pytest.approx(
        figures.scope2_market_kg + certificates.kg, rel=1e-9, abs=1e-6
    )


@given(energy_totals(), carbon_factors(), quantity, quantity)
def test_certificates_never_change_location_based(
    totals: EnergyTotals, resolved: CarbonFactors, first_kwh: float, second_kwh: float
) -> None:
    first = compute_carbon(totals, resolved, certificate_kwh=first_kwh)
    second = compute_carbon(totals, resolved, certificate_kwh=second_kwh)
    assert first.scope2_location_kg == second.scope2_location_kg
    assert first.inventory_location_kg == second.inventory_location_kg


@given(energy_totals(), carbon_factors(), quantity, quantity, quantity, quantity)
def test_avoided_emissions_and_offsets_never_change_the_inventory(
    totals: EnergyTotals,
    resolved: CarbonFactors,
    pv_kwh: float,
    export_kwh: float,
    offsets_kg: float,
    certificate_kwh: float,
) -> None:
    plain = compute_carbon(totals, resolved, certificate_kwh=certificate_kwh)
    other = EnergyTotals(
        electricity_import_kwh=totals.electricity_import_kwh,
        electricity_export_kwh=export_kwh,
        pv_generated_kwh=pv_kwh,
        gas_m3=totals.gas_m3,
        water_m3=totals.water_m3,
    )
    varied = compute_carbon(
        other, resolved, certificate_kwh=certificate_kwh, offsets_retired_kg=offsets_kg
    )
    assert varied.offsets_retired_kg == offsets_kg
    for name in ("inventory_location_kg", "inventory_market_kg", "water_kg"):
        assert getattr(varied, name) == getattr(plain, name)


@given(quantity, st.lists(quantity, max_size=30))
def test_certificates_allocated_over_any_split_sum_to_what_they_can_cover(
    certificate_kwh: float, intervals_kwh: list[float]
) -> None:
    before = [0.0, *accumulate(intervals_kwh)]
    covered = [
        allocate_certificates(certificate_kwh, before[i], now)
        for i, now in enumerate(intervals_kwh)
    ]
    assert all(0 <= c <= now for c, now in zip(covered, intervals_kwh, strict=True))
    assert math.fsum(covered) == pytest.approx(
        min(certificate_kwh, math.fsum(intervals_kwh)), rel=1e-9, abs=1e-6
    )


# --- behaviour -------------------------------------------------------------


def test_allocate_certificates_in_time_order() -> None:
    assert allocate_certificates(1000, 0, 400) == 400
    assert allocate_certificates(1000, 800, 400) == 200
    assert allocate_certificates(1000, 1200, 400) == 0
    with pytest.raises(ValueError, match="consumed_now_kwh"):
        allocate_certificates(1000, 0, -1)


def test_sold_pv_certificates_count_pv_at_the_market_factor_and_zero_the_pv_lever() -> None:
    totals = EnergyTotals(
        electricity_import_kwh=1200, electricity_export_kwh=50, pv_generated_kwh=800
    )
    figures = compute_carbon(totals, factors(), certificate_kwh=300, pv_certificates_sold=True)
    assert figures.scope2_market_kg == pytest.approx((1200 + 750 - 300) * 0.6096)
    assert figures.scope2_location_kg == pytest.approx(1200 * 0.4042)
    pv = figures.lever("pv")
    assert pv is not None and pv.kg == 0 and pv.basis_kwh_or_m3 == 750
    assert "sold" in pv.explanation
    assert figures.avoided_pv_kg == 0


def test_negative_efficiency_is_shown_not_clamped() -> None:
    totals = EnergyTotals(electricity_import_kwh=2000, production_units=900)
    figures = compute_carbon(totals, factors(), baseline=EnpiBaseline(2.0, "2025"))
    efficiency = figures.lever("efficiency")
    assert efficiency is not None
    assert efficiency.basis_kwh_or_m3 == pytest.approx(-200)
    assert efficiency.kg == pytest.approx(-200 * 0.4042)
    assert figures.co2_reduced_kg == pytest.approx(-200 * 0.4042)  # pv, certificates are 0


def test_no_production_or_no_baseline_means_no_efficiency_lever() -> None:
    idle = compute_carbon(
        EnergyTotals(electricity_import_kwh=50), factors(), baseline=EnpiBaseline(2.0, "2025")
    )
    assert idle.lever("efficiency") is None
    assert "no production" in " ".join(idle.notes)
    unset = compute_carbon(EnergyTotals(electricity_import_kwh=50, production_units=10), factors())
    assert unset.lever("efficiency") is None
    assert "no baseline" in " ".join(unset.notes)


def test_market_fallback_is_noted_and_named() -> None:
    figures = compute_carbon(EnergyTotals(electricity_import_kwh=100), factors(market_kg=None))
    assert figures.scope2_market_kg == figures.scope2_location_kg
    assert figures.factor_ids["scope2_market_kg"] == ("grid",)
    assert any("no residual mix" in note for note in figures.notes)


def test_excess_certificates_are_not_counted_and_noted() -> None:
    figures = compute_carbon(
        EnergyTotals(electricity_import_kwh=100), factors(), certificate_kwh=150
    )
    assert figures.certificate_covered_kwh == 100
    assert figures.scope2_market_kg == 0
    assert any("50 certificate kWh" in note for note in figures.notes)


def test_gas_without_a_factor_stops_and_water_without_one_is_not_assessed() -> None:
    grid = grid_factor(0.177)
    no_gas_or_water = CarbonFactors(
        grid=grid, market=ResolvedFactor(grid.factor, "market_residual")
    )
    with pytest.raises(MissingFactorError, match="gas"):
        compute_carbon(EnergyTotals(electricity_import_kwh=1, gas_m3=5), no_gas_or_water)
    figures = compute_carbon(
        EnergyTotals(electricity_import_kwh=1, water_m3=5, water_reuse_m3=2), no_gas_or_water
    )
    assert figures.water_kg is None
    assert figures.lever("water_reuse") is None
    assert figures.scope1_gas_kg == 0
    assert figures.factor_ids["water_kg"] == ()


def test_factors_in_the_wrong_role_are_rejected() -> None:
    with pytest.raises(ValueError, match="grid factor"):
        CarbonFactors(grid=residual_factor(0.6), market=residual_factor(0.6))
    with pytest.raises(ValueError, match="gas factor"):
        CarbonFactors(grid=grid_factor(0.5), market=residual_factor(0.6), gas=water_factor())


def test_negative_quantities_are_rejected() -> None:
    with pytest.raises(ValueError, match="gas_m3"):
        EnergyTotals(electricity_import_kwh=1, gas_m3=-1)
    with pytest.raises(ValueError, match="certificate_kwh"):
        compute_carbon(EnergyTotals(electricity_import_kwh=1), factors(), certificate_kwh=-5)


def test_unverified_factors_are_flagged() -> None:
    figures = worked_example()
    assert any("site-guian-water-supply is unverified" in note for note in figures.notes)


# --- EnPI (ISO 50006) --------------------------------------------------------


def test_enpi_and_improvement() -> None:
    assert enpi(1950, 900) == pytest.approx(2.1667, abs=1e-4)
    assert enpi(100, 0) is None
    assert enpi_improvement(2.0, 1.86) == pytest.approx(0.07)
    assert enpi_savings_kwh(2.0, 1.86, 1000) == pytest.approx(140)
    with pytest.raises(ValueError):
        enpi_improvement(0, 1)


# --- carbon-neutral status (ISO 14068-1) ------------------------------------


def test_neutrality_needs_offsets_for_the_whole_residual_and_verification() -> None:
    totals = EnergyTotals(electricity_import_kwh=1000, gas_m3=10)
    short = compute_carbon(totals, factors(), offsets_retired_kg=100)
    status = carbon_neutral_status(short)
    assert status.residual_kg == short.inventory_market_kg
    assert status.shortfall_kg == pytest.approx(short.inventory_market_kg - 100)
    assert not status.offsets_cover_residual
    assert status.claim.startswith("not carbon neutral")

    enough = compute_carbon(totals, factors(), offsets_retired_kg=10_000)
    unverified = carbon_neutral_status(enough)
    assert unverified.offsets_cover_residual
    assert "not verified" in unverified.claim
    verified = carbon_neutral_status(enough, independently_verified=True)
    assert "ISO 14068-1" in verified.claim and "verified" in verified.claim
    assert any("PAS 2060 was withdrawn" in note for note in verified.notes)
    assert any("reduce before offsetting" in note for note in verified.notes)
