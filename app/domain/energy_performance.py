"""One period's energy performance for a site or area, from its totals and settings.

The entry point the energy feature calls: given metered totals (and the CO₂ the
carbon figures computed for the same period), it returns comprehensive energy
in kgce, the per-unit EnPIs, the green-factory indicators and scores, the
intensity targets' status and the adjusted baseline. Pure: the coefficients
come in as values and ``at`` (the moment the status is for) is passed in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from app.domain.energy_settings import EnergySettings
from app.domain.enpi_model import AdjustedBaseline, BaselineModel, adjusted_baseline
from app.domain.scorecard import Scorecard, green_factory_indicators, scorecard
from app.domain.standard_coal import (
    CoalCoefficient,
    ComprehensiveEnergy,
    comprehensive_energy,
    resolve_coefficient,
)
from app.domain.targets import TargetStatus, intensity, target_status


@dataclass(frozen=True)
class SiteEnergyTotals:
    """A site's or area's metered totals over ``[start, end)`` (UTC).

    ``co2_*_kg`` are the carbon figures' inventory for the same period (None: not
    computed, so CO₂ indicators are not assessed). ``media`` holds other carriers
    in the boundary (``steam`` kg, ``compressed_air`` m³, ...).
    """

    start: datetime
    end: datetime
    site_consumption_kwh: float
    electricity_import_kwh: float = 0.0
    electricity_export_kwh: float = 0.0
    pv_self_consumed_kwh: float = 0.0
    gas_m3: float = 0.0
    water_intake_m3: float = 0.0
    water_reused_m3: float = 0.0
    production_units: float = 0.0
    certificate_kwh: float = 0.0
    co2_location_kg: float | None = None
    co2_market_kg: float | None = None
    degree_days: float | None = None
    media: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("period end is not after its start")
        for name in (
            "site_consumption_kwh",
            "electricity_import_kwh",
            "electricity_export_kwh",
            "pv_self_consumed_kwh",
            "gas_m3",
            "water_intake_m3",
            "water_reused_m3",
            "production_units",
            "certificate_kwh",
        ):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}")

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600.0

    def co2_kg(self, basis: str) -> float | None:
        return self.co2_location_kg if basis == "location" else self.co2_market_kg


def boundary_quantities(totals: SiteEnergyTotals, settings: EnergySettings) -> dict[str, float]:
    """Each carrier in the site's boundary with the quantity it counts."""
    electricity = (
        totals.site_consumption_kwh
        if settings.boundary.electricity == "site_consumption"
        else max(0.0, totals.electricity_import_kwh - totals.electricity_export_kwh)
    )
    known = {"electricity": electricity, "gas": totals.gas_m3, "water": totals.water_intake_m3}
    return {c: known.get(c, totals.media.get(c, 0.0)) for c in settings.boundary.carriers}


def comprehensive_for(
    totals: SiteEnergyTotals, settings: EnergySettings, coefficients: Iterable[CoalCoefficient]
) -> ComprehensiveEnergy:
    """Comprehensive energy of the boundary, coefficients resolved at the period's start.

    Raises:
        CoefficientNotFound: a carrier in the boundary has no coefficient then.
    """
    rows = settings.coefficients_over(coefficients)
    methods = {
        "electricity": settings.boundary.electricity_method,
        "gas": settings.boundary.gas_method,
    }
    quantities = boundary_quantities(totals, settings)
    resolved = {
        carrier: resolve_coefficient(
            rows,
            carrier=carrier,
            at=totals.start,
            method=methods.get(carrier),
            site_id=settings.site_id,
        )
        for carrier, quantity in quantities.items()
        if quantity > 0
    }
    return comprehensive_energy(quantities, resolved)


def baseline_energy_kwh(totals: SiteEnergyTotals, settings: EnergySettings) -> float:
    """The period's energy as the site's baseline counts it (site consumption or net import)."""
    if settings.baseline is not None and settings.baseline.energy == "net_import":
        return max(0.0, totals.electricity_import_kwh - totals.electricity_export_kwh)
    return totals.site_consumption_kwh


@dataclass(frozen=True)
class EnergyPerformance:
    """Everything the energy pages show for one period."""

    comprehensive: ComprehensiveEnergy
    kwh_per_unit: float | None
    kgce_per_unit: float | None
    indicators: dict[str, float | None]
    scorecard: Scorecard
    targets: tuple[TargetStatus, ...]
    adjusted_baseline: AdjustedBaseline | None
    saving_kwh: float | None  # adjusted baseline − actual; None when no valid baseline


def energy_performance(
    totals: SiteEnergyTotals,
    settings: EnergySettings,
    coefficients: Iterable[CoalCoefficient],
    *,
    at: datetime,
    baseline_model: BaselineModel | None = None,
) -> EnergyPerformance:
    """One period's figures; ``baseline_model`` is the site's fitted model, if any."""
    comprehensive = comprehensive_for(totals, settings, coefficients)
    units = totals.production_units
    co2 = totals.co2_kg(settings.scorecard_co2_basis)
    indicators = green_factory_indicators(
        production_units=units,
        comprehensive_kgce=comprehensive.total_kgce,
        water_intake_m3=totals.water_intake_m3,
        water_reused_m3=totals.water_reused_m3,
        co2_kg=co2 or 0.0,
        consumption_kwh=totals.site_consumption_kwh,
        pv_self_consumed_kwh=totals.pv_self_consumed_kwh,
        certificate_kwh=totals.certificate_kwh if settings.count_certificates else 0.0,
    )
    if co2 is None:
        indicators["unit_product_carbon"] = None
    statuses = []
    for spec in settings.targets:
        basis_co2 = totals.co2_kg(spec.co2_basis)
        metric = spec.target.metric
        actual: float | None
        if metric == "energy_per_unit":
            actual = comprehensive.per_unit(units)
        elif basis_co2 is None:
            actual = None
        elif metric == "co2_per_unit":
            actual = intensity(basis_co2, units)
        else:
            value = float(settings.output_value_per_unit or 0)
            actual = intensity(basis_co2, units * value)
        statuses.append(target_status(spec.target, actual, at))
    adjusted = None
    saving = None
    if baseline_model is not None:
        adjusted = adjusted_baseline(
            baseline_model,
            production_units=units,
            hours=totals.hours,
            degree_days=totals.degree_days,
        )
        if adjusted.expected_kwh is not None:
            saving = adjusted.expected_kwh - baseline_energy_kwh(totals, settings)
    return EnergyPerformance(
        comprehensive=comprehensive,
        kwh_per_unit=None if units <= 0 else totals.site_consumption_kwh / units,
        kgce_per_unit=comprehensive.per_unit(units),
        indicators=indicators,
        scorecard=scorecard(settings.scorecard, indicators),
        targets=tuple(statuses),
        adjusted_baseline=adjusted,
        saving_kwh=saving,
    )
