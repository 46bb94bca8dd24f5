"""Energy performance indicators and savings (ISO 50001 / 50006 / 50015).

Ratio EnPIs (per unit of product): improvement = (EnPI_base − EnPI_now) / EnPI_base
and savings = (EnPI_base − EnPI_now) × output_now, which equals the baseline
ratio's expected use for this output minus the actual use.

Model savings (``savings_cusum``): per reporting period, adjusted baseline −
actual, and their running sum (CUSUM). A rising CUSUM is a persistent saving,
a flat one no change, a falling one drift. An invalid model claims nothing.

``express_saving`` turns a kWh saving into kgce, kg CO₂ and money, each with
the id of the coefficient, factor or price it used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from typing import Protocol

from app.domain.enpi_model import BaselineModel, BaselinePoint
from app.domain.standard_coal import CoalCoefficient
from app.domain.tariffs import EXACT, as_decimal


@dataclass(frozen=True)
class PeriodUse:
    """One period's totals for ratio EnPIs; a None figure is not assessed (not zero)."""

    energy_kwh: float
    production_units: float
    kgce: float | None = None
    water_m3: float | None = None
    co2_kg: float | None = None


@dataclass(frozen=True)
class RatioEnpi:
    """One ratio EnPI against its baseline; per-unit values None when nothing was produced."""

    name: str
    unit: str
    baseline_per_unit: float | None
    reporting_per_unit: float | None
    improvement: float | None  # fraction; 0.07 = 7 % less per unit than the baseline
    savings: float | None  # in the numerator's unit; negative = more used than the baseline


def per_unit(total: float, production_units: float) -> float | None:
    """``total`` per unit of product; None when nothing was produced."""
    if not math.isfinite(total) or total < 0:
        raise ValueError(f"total must be a finite number ≥ 0, got {total!r}")
    return None if production_units <= 0 else total / production_units


def ratio_enpi(
    name: str,
    unit: str,
    *,
    baseline_total: float,
    baseline_units: float,
    reporting_total: float,
    reporting_units: float,
) -> RatioEnpi:
    """Compare one ratio EnPI with its baseline (ISO 50015 improvement and savings)."""
    base = per_unit(baseline_total, baseline_units)
    now = per_unit(reporting_total, reporting_units)
    improvement = None if base is None or now is None or base == 0 else (base - now) / base
    savings = None if base is None or now is None else (base - now) * reporting_units
    return RatioEnpi(name, unit, base, now, improvement, savings)


def enpi_ratios(baseline: PeriodUse, reporting: PeriodUse) -> tuple[RatioEnpi, ...]:
    """kWh/unit, and kgce/unit, m³ water/unit and kg CO₂/unit where both periods have them."""
    wanted = [("energy", "kWh/unit", baseline.energy_kwh, reporting.energy_kwh)]
    optional = [
        ("comprehensive_energy", "kgce/unit", baseline.kgce, reporting.kgce),
        ("water", "m3/unit", baseline.water_m3, reporting.water_m3),
        ("co2", "kgCO2/unit", baseline.co2_kg, reporting.co2_kg),
    ]
    rows = wanted + [(n, u, b, r) for n, u, b, r in optional if b is not None and r is not None]
    return tuple(
        ratio_enpi(
            name,
            unit,
            baseline_total=float(base),
            baseline_units=baseline.production_units,
            reporting_total=float(now),
            reporting_units=reporting.production_units,
        )
        for name, unit, base, now in rows
        if base is not None and now is not None
    )


@dataclass(frozen=True)
class PeriodSaving:
    """One reporting period against the adjusted baseline; model figures None when invalid."""

    start: datetime
    end: datetime
    actual_kwh: float
    expected_kwh: float | None
    saving_kwh: float | None
    cusum_kwh: float | None


@dataclass(frozen=True)
class SavingsReport:
    """Savings per reporting period and their CUSUM under one baseline model."""

    model_id: str
    valid: bool
    periods: tuple[PeriodSaving, ...]
    total_saving_kwh: float | None
    explanation: str


def savings_cusum(model: BaselineModel, periods: Sequence[BaselinePoint]) -> SavingsReport:
    """Adjusted baseline − actual per period, in time order, and the running CUSUM.

    Raises:
        ValueError: periods overlap, or the model needs degree-days a period lacks.
    """
    ordered = sorted(periods, key=lambda p: p.start)
    for earlier, later in pairwise(ordered):
        if later.start < earlier.end:
            raise ValueError(f"reporting periods overlap at {later.start.isoformat()}")
    if not model.valid:
        failed = "; ".join(check.explanation for check in model.failed_checks)
        rows = tuple(PeriodSaving(p.start, p.end, p.energy_kwh, None, None, None) for p in ordered)
        return SavingsReport(
            model.model_id, False, rows, None, f"no savings claimed, baseline not valid: {failed}"
        )
    saved: list[float] = []
    result: list[PeriodSaving] = []
    for point in ordered:
        expected = model.predict_kwh(
            point.production_units, hours=point.hours, degree_days=point.degree_days
        )
        saving = expected - point.energy_kwh
        saved.append(saving)
        result.append(
            PeriodSaving(
                point.start, point.end, point.energy_kwh, expected, saving, math.fsum(saved)
            )
        )
    total = math.fsum(saved)
    return SavingsReport(
        model.model_id,
        True,
        tuple(result),
        total,
        f"adjusted baseline ({model.equation}) − actual, summed over {len(result)} periods",
    )


class PerKwhFactor(Protocol):
    """What ``express_saving`` needs of an emission factor (``ResolvedFactor`` fits)."""

    @property
    def kg_per_unit(self) -> float: ...

    @property
    def factor_id(self) -> str: ...


@dataclass(frozen=True)
class Price:
    """An average price per kWh for valuing a saving, with where it came from."""

    per_kwh: Decimal
    currency: str
    price_id: str


@dataclass(frozen=True)
class SavingsExpressed:
    """One kWh saving in kgce, kg CO₂ and money; ``ids`` maps each figure to its sources."""

    kwh: float
    kgce: float | None
    co2_kg: float | None
    money: Decimal | None
    currency: str | None
    ids: dict[str, tuple[str, ...]]


def express_saving(
    kwh: float,
    *,
    coal: CoalCoefficient | None = None,
    co2_factor: PerKwhFactor | None = None,
    price: Price | None = None,
) -> SavingsExpressed:
    """A saved (or, negative, over-used) kWh figure in the other units a manager reads.

    Raises:
        ValueError: ``coal`` is not an electricity coefficient.
    """
    if coal is not None and coal.carrier != "electricity":
        raise ValueError(f"coefficient {coal.id!r} is for {coal.carrier}, not electricity")
    ids: dict[str, tuple[str, ...]] = {"kgce": (), "co2_kg": (), "money": ()}
    kgce = co2 = None
    money = None
    if coal is not None:
        kgce = kwh * coal.kgce_per_unit
        ids["kgce"] = (coal.id,)
    if co2_factor is not None:
        co2 = kwh * co2_factor.kg_per_unit
        ids["co2_kg"] = (co2_factor.factor_id,)
    if price is not None:
        money = EXACT.multiply(as_decimal(kwh), price.per_kwh)
        ids["money"] = (price.price_id,)
    return SavingsExpressed(
        kwh=kwh,
        kgce=kgce,
        co2_kg=co2,
        money=money,
        currency=None if price is None else price.currency,
        ids=ids,
    )
