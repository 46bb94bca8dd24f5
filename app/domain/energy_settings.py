"""A site's energy settings as pure values: boundary, baseline, tariffs, scorecard, targets.

``app.energy.file`` reads them from the site's energy file; instants are UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from app.domain.enpi_model import BaselineModel, BaselinePoint, ValidityRules, fit_baseline
from app.domain.scorecard import IndicatorSpec
from app.domain.standard_coal import CoalCoefficient
from app.domain.targets import IntensityTarget
from app.domain.tariffs import PriceSchedule


@dataclass(frozen=True)
class EnergyBoundary:
    """What comprehensive energy counts, and by which method each carrier converts."""

    carriers: tuple[str, ...]
    electricity: str
    electricity_method: str
    gas_method: str


@dataclass(frozen=True)
class BaselineSpec:
    """The baseline period and driver; ``points`` given in the file (may be empty)."""

    id: str
    production_meter: str
    energy: str
    start: datetime
    end: datetime
    rules: ValidityRules
    points: tuple[BaselinePoint, ...]

    def fit(self) -> BaselineModel | None:
        """The model fitted on the file's points; None when the file gives none."""
        return (
            fit_baseline(self.points, model_id=self.id, rules=self.rules) if self.points else None
        )


@dataclass(frozen=True)
class TargetSpec:
    target: IntensityTarget
    co2_basis: str
    base_period: str


@dataclass(frozen=True)
class EnergySettings:
    """A site's energy settings as domain values; instants in UTC."""

    site_id: str
    illustrative: bool
    boundary: EnergyBoundary
    coefficients: tuple[CoalCoefficient, ...]
    baseline: BaselineSpec | None
    tariffs: tuple[PriceSchedule, ...]
    intake_meters: tuple[str, ...]
    reuse_meters: tuple[str, ...]
    count_certificates: bool
    scorecard: tuple[IndicatorSpec, ...]
    scorecard_co2_basis: str
    output_value_per_unit: Decimal | None
    output_value_currency: str | None
    targets: tuple[TargetSpec, ...]

    def coefficients_over(self, base: Iterable[CoalCoefficient]) -> tuple[CoalCoefficient, ...]:
        """``base`` coefficients with this site's rows applied (same id replaces)."""
        own = {c.id for c in self.coefficients}
        return tuple(c for c in base if c.id not in own) + self.coefficients

    def meter_ids(self) -> frozenset[str]:
        """Every meter the file refers to."""
        ids = set(self.intake_meters) | set(self.reuse_meters)
        if self.baseline is not None:
            ids.add(self.baseline.production_meter)
        return frozenset(ids)
