"""CO₂ accounting for one site and period, after the GHG Protocol Scope 2 Guidance.

Pure: energy totals and resolved factors in, figures out. This values one set
of totals with one factor each; ``period_carbon`` values a site-local period
from 15-minute buckets by time of use and is what new callers should use. ``docs/carbon.md``
explains the method with a worked example. Identities that hold for any
inputs (tested as properties):

* ``scope2_location_kg`` = import × grid factor; certificates never change it.
* ``scope2_market_kg`` = (market kWh − certificate-covered kWh) × market factor.
  Market kWh is the import, plus self-consumed PV when the PV's certificates
  were sold; the market factor is the residual mix, or the grid factor where
  none is published.
* ``inventory_*_kg`` = scope 1 + scope 2. Water (scope 3), avoided emissions
  and offsets are lines of their own and never change the inventory.
* certificates lever = covered kWh × market factor: how much higher
  market-based scope 2 would be without the certificates. So, with no PV
  certificates sold, ``location − market = certificates lever + import ×
  (grid factor − market factor)``; the last term (the residual-mix adjustment)
  is zero when the grid factor stands in for the residual mix.
* ``co2_reduced_kg`` = ``math.fsum`` of the levers, each visible on its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime

from app.domain.factors import EmissionFactor, FactorNotFound, ResolvedFactor, resolve_factor

PAS_2060_WITHDRAWN = "2025-11-30"


class MissingFactorError(ValueError):
    """A quantity that belongs in the inventory has no factor to turn it into CO₂."""


def _require_quantity(name: str, value: float) -> None:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}")


@dataclass(frozen=True)
class EnergyTotals:
    """A site's metered totals for one period (kWh, m³, units of product)."""

    electricity_import_kwh: float
    electricity_export_kwh: float = 0.0
    pv_generated_kwh: float = 0.0
    gas_m3: float = 0.0
    water_m3: float = 0.0
    water_reuse_m3: float = 0.0
    production_units: float = 0.0

    def __post_init__(self) -> None:
        for item in fields(self):
            _require_quantity(item.name, getattr(self, item.name))

    @property
    def pv_self_consumed_kwh(self) -> float:
        """PV used on site: generation minus export, never below zero."""
        return max(0.0, self.pv_generated_kwh - self.electricity_export_kwh)

    @property
    def site_consumption_kwh(self) -> float:
        """Electricity used on site: import + PV − export (the plant file's definition)."""
        return max(
            0.0, self.electricity_import_kwh + self.pv_generated_kwh - self.electricity_export_kwh
        )


@dataclass(frozen=True)
class EnpiBaseline:
    """Energy baseline (ISO 50006): electricity kWh per unit of product over ``period``."""

    kwh_per_unit: float
    period: str

    def __post_init__(self) -> None:
        if not math.isfinite(self.kwh_per_unit) or self.kwh_per_unit <= 0:
            raise ValueError(f"baseline kwh_per_unit must be > 0, got {self.kwh_per_unit!r}")


@dataclass(frozen=True)
class CarbonFactors:
    """The resolved factors one period's accounting uses.

    ``market`` is the residual mix, or the grid factor flagged
    ``fallback_from="market_residual"``. ``gas`` / ``water`` may be None where
    the catalogue has no factor for the site's regions.
    """

    grid: ResolvedFactor
    market: ResolvedFactor
    gas: ResolvedFactor | None = None
    water: ResolvedFactor | None = None

    def __post_init__(self) -> None:
        _expect("grid", self.grid, "electricity", {"location"})
        _expect("market", self.market, "electricity", {"market_residual", "location"})
        if self.gas is not None:
            _expect("gas", self.gas, "gas", {"fuel"})
        if self.water is not None:
            _expect("water", self.water, "water", {"supply"})


def _expect(role: str, resolved: ResolvedFactor, resource: str, methods: set[str]) -> None:
    factor = resolved.factor
    if factor.resource != resource or factor.method not in methods:
        raise ValueError(
            f"the {role} factor must be a {resource} factor with method "
            f"{' or '.join(sorted(methods))}; got {factor.id!r} "
            f"({factor.resource}, {factor.method})"
        )


def resolve_carbon_factors(
    factors: Iterable[EmissionFactor], *, regions: Sequence[str], at: datetime
) -> CarbonFactors:
    """Resolve the four factors for a site's ``regions`` at ``at``.

    Raises:
        FactorNotFound: no electricity location factor (nothing can be computed).
    """
    pool = tuple(factors)

    def lookup(resource: str, method: str) -> ResolvedFactor:
        return resolve_factor(pool, regions=regions, resource=resource, method=method, at=at)

    def optional(resource: str, method: str) -> ResolvedFactor | None:
        try:
            return lookup(resource, method)
        except FactorNotFound:
            return None

    return CarbonFactors(
        grid=lookup("electricity", "location"),
        market=lookup("electricity", "market_residual"),
        gas=optional("gas", "fuel"),
        water=optional("water", "supply"),
    )


@dataclass(frozen=True)
class Lever:
    """One named way CO₂ was reduced, with its basis and the factor that priced it.

    ``basis_kwh_or_m3`` is the kWh (pv, certificates, efficiency) or m³
    (water_reuse) the lever rests on; efficiency may be negative.
    """

    name: str
    kg: float
    basis_kwh_or_m3: float
    factor_id: str
    explanation: str


@dataclass(frozen=True)
class CarbonFigures:
    """One site's CO₂ figures for one period, in kg CO₂ (or CO₂e, as the factors are).

    ``factor_ids`` maps each ``*_kg`` figure to the ids of the factors it used;
    ``water_kg`` is None where no water factor is known (not assessed, not zero).
    """

    scope1_gas_kg: float
    scope2_location_kg: float
    scope2_market_kg: float
    water_kg: float | None
    inventory_location_kg: float
    inventory_market_kg: float
    pv_self_consumed_kwh: float
    avoided_pv_kg: float
    offsets_retired_kg: float
    certificate_covered_kwh: float
    levers: tuple[Lever, ...]
    co2_reduced_kg: float
    factor_ids: Mapping[str, tuple[str, ...]]
    notes: tuple[str, ...] = ()

    def lever(self, name: str) -> Lever | None:
        """The lever called ``name``, None if it was not assessed this period."""
        return next((lever for lever in self.levers if lever.name == name), None)


def compute_carbon(
    totals: EnergyTotals,
    factors: CarbonFactors,
    *,
    certificate_kwh: float = 0.0,
    offsets_retired_kg: float = 0.0,
    baseline: EnpiBaseline | None = None,
    pv_certificates_sold: bool = False,
) -> CarbonFigures:
    """Scope 1, dual scope 2, water, the levers and the lines beside the inventory.

    Args:
        totals: the period's metered totals.
        factors: resolved factors (see ``resolve_carbon_factors``).
        certificate_kwh: certificate kWh allocated to this period
            (``allocate_certificates``); any excess over the market-based kWh is
            not counted and a note says so.
        offsets_retired_kg: offsets retired against this period; reported only.
        baseline: EnPI baseline for the efficiency lever; None → no lever.
        pv_certificates_sold: the PV's certificates were sold, so self-consumed
            PV is counted in market-based scope 2 and claims no avoided emissions.

    Raises:
        MissingFactorError: gas was used but ``factors.gas`` is None.
        ValueError: a quantity is negative or not finite.
    """
    _require_quantity("certificate_kwh", certificate_kwh)
    _require_quantity("offsets_retired_kg", offsets_retired_kg)
    grid, market, gas, water = factors.grid, factors.market, factors.gas, factors.water
    notes: list[str] = []

    if gas is None and totals.gas_m3 > 0:
        raise MissingFactorError(
            f"{totals.gas_m3} m³ of gas used but no gas factor resolved: scope 1 would be wrong"
        )
    scope1_gas_kg = 0.0 if gas is None else totals.gas_m3 * gas.kg_per_unit
    scope2_location_kg = totals.electricity_import_kwh * grid.kg_per_unit

    pv_self_consumed_kwh = totals.pv_self_consumed_kwh
    market_kwh = totals.electricity_import_kwh + (
        pv_self_consumed_kwh if pv_certificates_sold else 0.0
    )
    covered_kwh = min(certificate_kwh, market_kwh)
    if certificate_kwh > covered_kwh:
        notes.append(
            f"{certificate_kwh - covered_kwh:g} certificate kWh exceed this period's "
            f"market-based consumption ({market_kwh:g} kWh) and are not counted"
        )
    scope2_market_kg = (market_kwh - covered_kwh) * market.kg_per_unit
    if market.fallback_from is not None:
        notes.append(
            f"no residual mix published for these regions: market-based scope 2 uses the "
            f"location factor {market.factor_id}"
        )

    water_kg = None if water is None else totals.water_m3 * water.kg_per_unit
    if water is None:
        notes.append("no water-supply factor for these regions: water not assessed")

    avoided_pv_kg = 0.0 if pv_certificates_sold else pv_self_consumed_kwh * grid.kg_per_unit
    levers = [
        Lever(
            name="pv",
            kg=avoided_pv_kg,
            basis_kwh_or_m3=pv_self_consumed_kwh,
            factor_id=grid.factor_id,
            explanation=(
                "PV certificates sold: the buyer owns the zero-carbon attribute, so the "
                "self-consumed PV counts in market-based scope 2 at the market factor and "
                "claims no avoided emissions here"
                if pv_certificates_sold
                else "self-consumed PV × grid location factor: grid emissions avoided "
                "(reported beside the inventory, not subtracted from it)"
            ),
        ),
        Lever(
            name="certificates",
            kg=covered_kwh * market.kg_per_unit,
            basis_kwh_or_m3=covered_kwh,
            factor_id=market.factor_id,
            explanation=(
                "certificate-covered kWh × market factor: how much higher market-based "
                "scope 2 would be without the certificates (location-based is unchanged)"
            ),
        ),
    ]
    if baseline is not None and totals.production_units > 0:
        expected_kwh = baseline.kwh_per_unit * totals.production_units
        saved_kwh = expected_kwh - totals.site_consumption_kwh
        levers.append(
            Lever(
                name="efficiency",
                kg=saved_kwh * grid.kg_per_unit,
                basis_kwh_or_m3=saved_kwh,
                factor_id=grid.factor_id,
                explanation=(
                    f"(baseline {baseline.kwh_per_unit:g} kWh/unit for {baseline.period} × "
                    f"{totals.production_units:g} units − {totals.site_consumption_kwh:g} kWh "
                    "used) × grid location factor; negative means more energy per unit "
                    "than the baseline"
                ),
            )
        )
    else:
        notes.append(
            "efficiency not assessed: no baseline"
            if baseline is None
            else "efficiency not assessed: no production this period"
        )
    if water is not None:
        levers.append(
            Lever(
                name="water_reuse",
                kg=totals.water_reuse_m3 * water.kg_per_unit,
                basis_kwh_or_m3=totals.water_reuse_m3,
                factor_id=water.factor_id,
                explanation="reused m³ × water-supply factor: supply water not drawn",
            )
        )

    for resolved in (grid, market, gas, water):
        if resolved is not None and resolved.factor.status == "unverified":
            notes.append(f"factor {resolved.factor_id} is unverified: check it before reporting")

    gas_ids = () if gas is None else (gas.factor_id,)
    water_ids = () if water is None else (water.factor_id,)
    factor_ids: dict[str, tuple[str, ...]] = {
        "scope1_gas_kg": gas_ids,
        "scope2_location_kg": (grid.factor_id,),
        "scope2_market_kg": (market.factor_id,),
        "water_kg": water_ids,
        "inventory_location_kg": (*gas_ids, grid.factor_id),
        "inventory_market_kg": (*gas_ids, market.factor_id),
        "avoided_pv_kg": (grid.factor_id,),
        "offsets_retired_kg": (),
        "co2_reduced_kg": tuple(dict.fromkeys(lever.factor_id for lever in levers)),
    }
    return CarbonFigures(
        scope1_gas_kg=scope1_gas_kg,
        scope2_location_kg=scope2_location_kg,
        scope2_market_kg=scope2_market_kg,
        water_kg=water_kg,
        inventory_location_kg=scope1_gas_kg + scope2_location_kg,
        inventory_market_kg=scope1_gas_kg + scope2_market_kg,
        pv_self_consumed_kwh=pv_self_consumed_kwh,
        avoided_pv_kg=avoided_pv_kg,
        offsets_retired_kg=offsets_retired_kg,
        certificate_covered_kwh=covered_kwh,
        levers=tuple(levers),
        co2_reduced_kg=math.fsum(lever.kg for lever in levers),
        factor_ids=factor_ids,
        notes=tuple(notes),
    )


def allocate_certificates(
    certificate_kwh: float, consumed_before_kwh: float, consumed_now_kwh: float
) -> float:
    """kWh of this interval covered by a period's certificates, used in time order.

    Certificates for a period cover consumption from its start until exhausted:
    covered = clamp(certificate_kwh − consumed_before_kwh, 0, consumed_now_kwh),
    where ``consumed_before_kwh`` is the period's consumption before this interval.
    """
    _require_quantity("certificate_kwh", certificate_kwh)
    _require_quantity("consumed_before_kwh", consumed_before_kwh)
    _require_quantity("consumed_now_kwh", consumed_now_kwh)
    return min(max(certificate_kwh - consumed_before_kwh, 0.0), consumed_now_kwh)


def enpi(energy_kwh: float, production_units: float) -> float | None:
    """Energy performance indicator, kWh per unit; None when nothing was produced."""
    if production_units <= 0:
        return None
    return energy_kwh / production_units


def enpi_improvement(base: float, now: float) -> float:
    """ISO 50006 improvement as a fraction: (EnPI_base − EnPI_now) / EnPI_base."""
    if not base > 0:
        raise ValueError(f"baseline EnPI must be > 0, got {base!r}")
    return (base - now) / base


def enpi_savings_kwh(base: float, now: float, output_now: float) -> float:
    """ISO 50006 savings: (EnPI_base − EnPI_now) × output_now; negative = more energy used."""
    return (base - now) * output_now


@dataclass(frozen=True)
class NeutralityStatus:
    """Where a period stands against an ISO 14068-1:2023 carbon-neutrality claim.

    ``residual_kg`` is the market-based inventory as it is: nothing (avoided
    emissions, levers) is subtracted from it. ``shortfall_kg`` is the residual
    the retired offsets do not cover.
    """

    residual_kg: float
    offsets_retired_kg: float
    shortfall_kg: float
    offsets_cover_residual: bool
    reductions_kg: float
    independently_verified: bool
    claim: str
    notes: tuple[str, ...]


def carbon_neutral_status(
    figures: CarbonFigures, *, independently_verified: bool = False
) -> NeutralityStatus:
    """An honest status line for a "zero-carbon" claim over the figures' period."""
    residual_kg = figures.inventory_market_kg
    offsets_kg = figures.offsets_retired_kg
    shortfall_kg = max(0.0, residual_kg - offsets_kg)
    covered = shortfall_kg == 0.0
    if not covered:
        claim = f"not carbon neutral: {shortfall_kg:.2f} kg of residual emissions not offset"
    elif independently_verified:
        claim = "carbon neutral per ISO 14068-1:2023: residual offset, independently verified"
    else:
        claim = (
            "offsets cover the residual emissions, but the claim is not verified: "
            "ISO 14068-1:2023 requires independent verification"
        )
    notes = [
        "ISO 14068-1:2023: reduce first, offset only the residual, verify independently",
        f"PAS 2060 was withdrawn on {PAS_2060_WITHDRAWN}; do not cite it for new claims",
        "residual = scope 1 + market-based scope 2; avoided emissions are not subtracted, "
        "offsets are compared with it, not netted into it",
    ]
    if figures.water_kg is not None:
        notes.append("the scope 3 water line is outside this residual")
    if figures.co2_reduced_kg <= 0:
        notes.append("no net reduction from the levers this period: reduce before offsetting")
    return NeutralityStatus(
        residual_kg=residual_kg,
        offsets_retired_kg=offsets_kg,
        shortfall_kg=shortfall_kg,
        offsets_cover_residual=covered,
        reductions_kg=figures.co2_reduced_kg,
        independently_verified=independently_verified,
        claim=claim,
        notes=tuple(notes),
    )
