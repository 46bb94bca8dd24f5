"""What a reader of the carbon figures reads beyond the numbers: each lever's basis,
factor id and explanation, the notes, the error messages, and the edges of each rule.

(Mutation testing showed these could change without any other test noticing.)
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from app.domain.carbon import (
    CarbonFactors,
    EnergyTotals,
    EnpiBaseline,
    MissingFactorError,
    allocate_certificates,
    carbon_neutral_status,
    compute_carbon,
    enpi,
    enpi_improvement,
)
from app.domain.factors import ResolvedFactor
from tests.domain.test_carbon import (
    factors,
    gas_factor,
    grid_factor,
    residual_factor,
    water_factor,
    worked_example,
)

PV_EXPLANATION = (
    "self-consumed PV × grid location factor: grid emissions avoided "
    "(reported beside the inventory, not subtracted from it)"
)
PV_SOLD_EXPLANATION = (
    "PV certificates sold: the buyer owns the zero-carbon attribute, so the "
    "self-consumed PV counts in market-based scope 2 at the market factor and "
    "claims no avoided emissions here"
)
CERTIFICATES_EXPLANATION = (
    "certificate-covered kWh × market factor: how much higher market-based "
    "scope 2 would be without the certificates (location-based is unchanged)"
)
WATER_EXPLANATION = "reused m³ × water-supply factor: supply water not drawn"


def test_each_lever_says_what_it_counts_with_which_factor() -> None:
    figures = worked_example()
    pv, certificates, efficiency, water = figures.levers
    assert (pv.name, pv.basis_kwh_or_m3, pv.factor_id) == ("pv", 750, "cn-csg-location-2023")
    assert pv.explanation == PV_EXPLANATION
    assert (certificates.basis_kwh_or_m3, certificates.factor_id) == (
        300,
        "cn-national-market-residual-2023",
    )
    assert certificates.explanation == CERTIFICATES_EXPLANATION
    # 2.0 kWh/unit × 900 units − (1200 + 750) kWh used = −150 kWh
    assert (efficiency.basis_kwh_or_m3, efficiency.factor_id) == (-150, "cn-csg-location-2023")
    assert efficiency.explanation == (
        "(baseline 2 kWh/unit for 2025 × 900 units − 1950 kWh used) × grid location factor; "
        "negative means more energy per unit than the baseline"
    )
    assert (water.basis_kwh_or_m3, water.factor_id) == (5, "site-guian-water-supply")
    assert water.explanation == WATER_EXPLANATION
    assert not any("water not assessed" in note for note in figures.notes)


def test_sold_pv_certificates_say_why_pv_claims_nothing() -> None:
    totals = EnergyTotals(electricity_import_kwh=100, pv_generated_kwh=40)
    pv = compute_carbon(totals, factors(), pv_certificates_sold=True).levers[0]
    assert (pv.kg, pv.basis_kwh_or_m3, pv.explanation) == (0.0, 40, PV_SOLD_EXPLANATION)
    kept = compute_carbon(totals, factors()).levers[0]
    assert kept.explanation == PV_EXPLANATION


def test_why_efficiency_or_water_is_not_assessed() -> None:
    grid = grid_factor(0.5)
    bare = CarbonFactors(grid=grid, market=residual_factor(0.6))
    no_baseline = compute_carbon(EnergyTotals(electricity_import_kwh=1), bare)
    assert no_baseline.notes == (
        "no water-supply factor for these regions: water not assessed",
        "efficiency not assessed: no baseline",
    )
    no_output = compute_carbon(
        EnergyTotals(electricity_import_kwh=1), factors(), baseline=EnpiBaseline(2.0, "2025")
    )
    assert no_output.notes == ("efficiency not assessed: no production this period",)


def test_certificates_beyond_the_consumption_are_noted_with_the_excess() -> None:
    totals = EnergyTotals(electricity_import_kwh=100)
    over = compute_carbon(totals, factors(), certificate_kwh=130)
    assert over.notes[0] == (
        "30 certificate kWh exceed this period's market-based consumption (100 kWh) "
        "and are not counted"
    )
    exact = compute_carbon(totals, factors(), certificate_kwh=100)
    assert exact.certificate_covered_kwh == 100
    assert not any("exceed" in note for note in exact.notes)


def test_any_gas_without_a_factor_stops() -> None:
    grid = grid_factor(0.5)
    no_gas = CarbonFactors(grid=grid, market=residual_factor(0.6))
    with pytest.raises(MissingFactorError, match=r"^0.5 m³ of gas used but no gas factor"):
        compute_carbon(EnergyTotals(electricity_import_kwh=1, gas_m3=0.5), no_gas)


@pytest.mark.parametrize("kwh_per_unit", [0.0, -1.0, math.nan, math.inf])
def test_a_baseline_must_be_a_positive_finite_figure(kwh_per_unit: float) -> None:
    with pytest.raises(ValueError, match=r"^baseline kwh_per_unit must be > 0, got "):
        EnpiBaseline(kwh_per_unit, "2025")
    assert EnpiBaseline(0.5, "2025").kwh_per_unit == 0.5  # below 1 kWh/unit is fine


@pytest.mark.parametrize(
    ("role", "make"),
    [
        ("market", lambda: CarbonFactors(grid=grid_factor(0.5), market=gas_factor())),
        (
            "gas",
            lambda: CarbonFactors(
                grid=grid_factor(0.5), market=residual_factor(0.6), gas=water_factor()
            ),
        ),
        (
            "water",
            lambda: CarbonFactors(
                grid=grid_factor(0.5), market=residual_factor(0.6), water=gas_factor()
            ),
        ),
    ],
)
def test_a_factor_in_the_wrong_role_is_named_in_the_error(role: str, make: object) -> None:
    with pytest.raises(ValueError, match=rf"^the {role} factor must be a ") as caught:
        make()  # type: ignore[operator]
    if role == "market":
        assert "with method location or market_residual; got 'gas'" in str(caught.value)


@pytest.mark.parametrize("name", ["certificate_kwh", "offsets_retired_kg"])
def test_a_negative_quantity_is_named_in_the_error(name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name} must be a finite number ≥ 0, got -1"):
        compute_carbon(EnergyTotals(electricity_import_kwh=1), factors(), **{name: -1.0})


def test_market_fallback_keeps_the_location_factor_id() -> None:
    grid = grid_factor(0.5, fid="grid-x")
    fallback = CarbonFactors(grid=grid, market=ResolvedFactor(grid.factor, "market_residual"))
    figures = compute_carbon(EnergyTotals(electricity_import_kwh=10), fallback)
    assert figures.factor_ids["scope2_market_kg"] == ("grid-x",)


@pytest.mark.parametrize("name", ["certificate_kwh", "consumed_before_kwh", "consumed_now_kwh"])
def test_allocating_certificates_names_a_bad_quantity(name: str) -> None:
    args = {"certificate_kwh": 10.0, "consumed_before_kwh": 0.0, "consumed_now_kwh": 5.0}
    with pytest.raises(ValueError, match=rf"^{name} must be a finite number ≥ 0, got -1"):
        allocate_certificates(**(args | {name: -1.0}))


def test_enpi_edges() -> None:
    assert enpi(10.0, 0.5) == 20.0  # half a unit made is still production
    assert enpi(10.0, 0.0) is None
    assert enpi_improvement(0.5, 0.25) == 0.5  # a baseline below 1 kWh/unit is fine
    with pytest.raises(ValueError, match=r"^baseline EnPI must be > 0, got 0"):
        enpi_improvement(0.0, 1.0)


def test_the_neutrality_status_reads_as_iso_14068_asks() -> None:
    figures = worked_example()
    short = carbon_neutral_status(figures)
    assert short.claim == (
        f"not carbon neutral: {figures.inventory_market_kg:.2f} kg of residual emissions not offset"
    )
    assert short.notes[0] == (
        "ISO 14068-1:2023: reduce first, offset only the residual, verify independently"
    )
    assert short.notes[2] == (
        "residual = scope 1 + market-based scope 2; avoided emissions are not subtracted, "
        "offsets are compared with it, not netted into it"
    )
    assert "the scope 3 water line is outside this residual" in short.notes
    offset = dataclasses.replace(figures, offsets_retired_kg=figures.inventory_market_kg)
    assert carbon_neutral_status(offset).claim == (
        "offsets cover the residual emissions, but the claim is not verified: "
        "ISO 14068-1:2023 requires independent verification"
    )
    assert carbon_neutral_status(offset, independently_verified=True).claim == (
        "carbon neutral per ISO 14068-1:2023: residual offset, independently verified"
    )
    no_reduction = dataclasses.replace(figures, co2_reduced_kg=0.0, water_kg=None)
    notes = carbon_neutral_status(no_reduction).notes
    assert notes[-1] == "no net reduction from the levers this period: reduce before offsetting"
    assert "the scope 3 water line is outside this residual" not in notes


def test_the_neutrality_status_carries_what_it_judged() -> None:
    figures = dataclasses.replace(worked_example(), offsets_retired_kg=100.0, co2_reduced_kg=0.5)
    status = carbon_neutral_status(figures, independently_verified=True)
    assert (status.offsets_retired_kg, status.reductions_kg) == (100.0, 0.5)
    assert status.independently_verified is True
    assert status.shortfall_kg == pytest.approx(figures.inventory_market_kg - 100.0)
    # a small net reduction is still one: no "reduce before offsetting" note
    assert not any("no net reduction" in note for note in status.notes)


def test_gas_and_water_figures_carry_their_factor_ids() -> None:
    ids = worked_example().factor_ids
    assert ids["scope1_gas_kg"] == ("cn-gas-fuel-gbt32150-2015",)
    assert ids["water_kg"] == ("site-guian-water-supply",)
    assert ids["inventory_location_kg"] == ("cn-gas-fuel-gbt32150-2015", "cn-csg-location-2023")
