""" "CO₂ reduced", split into physical levers and the contractual one, offsets beside both.

* **physical**: self-consumed PV (grid emissions avoided), efficiency against
  the baseline-predicted energy, water reuse. Energy or water that was really
  not drawn.
* **contractual**: certificates. They lower market-based scope 2 and change
  nothing the meters see.
* **offsets** retired for the period are reported beside both, never added to
  either, never subtracted from the inventory.

Each lever is valued by time of use (``time_of_use.value_by_time_of_use``)
and keeps its factor uses; each carries a one-line explanation for the screen.
The hero figure is the physical total; the screen line says what the rest is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final

from app.domain.basis import combine_basis
from app.domain.instruments import OffsetTotal
from app.domain.time_of_use import FactorUse, Valuation

PHYSICAL: Final = "physical"
CONTRACTUAL: Final = "contractual"
_CENT = Decimal("0.01")


def show(value: Decimal) -> str:
    """A figure as the screen shows it: two decimals, thousands separated."""
    return f"{value.quantize(_CENT):,}"


@dataclass(frozen=True)
class ReductionLever:
    """One named lever: kg, the quantity it rests on, its factor uses and a one-liner."""

    name: str
    kind: str
    kg: Decimal
    quantity: Decimal
    unit: str
    uses: tuple[FactorUse, ...]
    explanation: str

    @property
    def factor_ids(self) -> tuple[str, ...]:
        return tuple(u.factor_id for u in self.uses)

    @property
    def basis(self) -> str:
        return combine_basis((u.factor_id, u.gas_basis) for u in self.uses)


@dataclass(frozen=True)
class Reductions:
    """Physical and contractual levers, offsets beside them, and the screen's one line."""

    physical: tuple[ReductionLever, ...]
    contractual: tuple[ReductionLever, ...]
    offsets: OffsetTotal
    not_assessed: tuple[str, ...]

    @property
    def physical_kg(self) -> Decimal:
        return sum((lever.kg for lever in self.physical), Decimal(0))

    @property
    def contractual_kg(self) -> Decimal:
        return sum((lever.kg for lever in self.contractual), Decimal(0))

    @property
    def total_kg(self) -> Decimal:
        """Physical + contractual ("CO₂ reduced" as the old single figure)."""
        return self.physical_kg + self.contractual_kg

    @property
    def levers(self) -> tuple[ReductionLever, ...]:
        return (*self.physical, *self.contractual)

    def lever(self, name: str) -> ReductionLever | None:
        return next((lever for lever in self.levers if lever.name == name), None)

    @property
    def physical_basis(self) -> str:
        return combine_basis((u.factor_id, u.gas_basis) for x in self.physical for u in x.uses)

    @property
    def contractual_basis(self) -> str:
        return combine_basis((u.factor_id, u.gas_basis) for x in self.contractual for u in x.uses)

    @property
    def hero(self) -> str:
        """Which total the wall's hero shows."""
        return PHYSICAL

    @property
    def explanation(self) -> str:
        """One line for the screen under the hero."""
        return (
            f"CO₂ reduced counts physical levers only ({show(self.physical_kg)} kg: "
            f"{', '.join(x.name for x in self.physical) or 'none assessed'}); certificates "
            f"({show(self.contractual_kg)} kg) are contractual and lower market-based scope 2 "
            f"only; offsets ({show(self.offsets.kg)} kg {self.offsets.basis}) are beside both, "
            "never subtracted"
        )


def efficiency_savings(
    predicted: Iterable[tuple[datetime, Decimal]], actual: Iterable[tuple[datetime, Decimal]]
) -> list[tuple[datetime, Decimal]]:
    """Baseline-predicted minus used kWh per bucket (negative: more used than predicted).

    A bucket with a prediction but no reading counts as 0 used; one with a reading
    but no prediction is left out (nothing to compare with).
    """
    used: dict[datetime, Decimal] = {}
    for bucket, kwh in actual:
        used[bucket] = used.get(bucket, Decimal(0)) + kwh
    saved: dict[datetime, Decimal] = {}
    for bucket, kwh in predicted:
        saved[bucket] = saved.get(bucket, Decimal(0)) + kwh
    return [(b, s - used.get(b, Decimal(0))) for b, s in sorted(saved.items())]


def _lever(name: str, kind: str, valuation: Valuation, explanation: str) -> ReductionLever:
    return ReductionLever(
        name=name,
        kind=kind,
        kg=valuation.kg,
        quantity=valuation.quantity,
        unit=valuation.unit,
        uses=valuation.uses,
        explanation=explanation,
    )


def split_reductions(
    *,
    pv: Valuation | None,
    efficiency: Valuation | None,
    water_reuse: Valuation | None,
    certificates: Valuation | None,
    offsets: OffsetTotal,
    pv_certificates_sold: bool = False,
    baseline: str = "the baseline",
) -> Reductions:
    """Build the levers from their valuations (None: not assessed this period).

    Args:
        pv: self-consumed PV kWh per bucket at the grid location factor.
        efficiency: ``efficiency_savings`` at the grid location factor.
        water_reuse: reused m³ at the water-supply factor.
        certificates: certificate-covered kWh at the market factor (residual mix).
        offsets: ``offsets_retired`` for the period.
        pv_certificates_sold: the PV's attribute was sold; PV claims nothing here.
        baseline: how the screen names the baseline model (e.g. "2025 regression").
    """
    physical: list[ReductionLever] = []
    not_assessed: list[str] = []
    if pv_certificates_sold:
        not_assessed.append("pv: the PV's certificates were sold, so the buyer claims it")
    elif pv is None:
        not_assessed.append("pv: no PV metered")
    else:
        physical.append(
            _lever(
                "pv",
                PHYSICAL,
                pv,
                f"{show(pv.quantity)} kWh of own PV used on site × grid factor: grid "
                "emissions avoided",
            )
        )
    if efficiency is None:
        not_assessed.append("efficiency: no baseline prediction")
    else:
        physical.append(
            _lever(
                "efficiency",
                PHYSICAL,
                efficiency,
                f"{show(efficiency.quantity)} kWh less than {baseline} predicted × grid "
                "factor; negative means more was used than predicted",
            )
        )
    if water_reuse is None:
        not_assessed.append("water_reuse: no water-supply factor or no reuse metered")
    else:
        physical.append(
            _lever(
                "water_reuse",
                PHYSICAL,
                water_reuse,
                f"{show(water_reuse.quantity)} m³ reused × water-supply factor: supply "
                "water not drawn",
            )
        )
    contractual: list[ReductionLever] = []
    if certificates is not None:
        contractual.append(
            _lever(
                "certificates",
                CONTRACTUAL,
                certificates,
                f"{show(certificates.quantity)} kWh covered by certificates × residual mix: "
                "lowers market-based scope 2 only, no kWh less was drawn",
            )
        )
    return Reductions(tuple(physical), tuple(contractual), offsets, tuple(not_assessed))
