"""Green-factory indicators and their scores, in the style of GB/T 36132-2025.

Each quantitative indicator is scored by comparing the plant's actual value with
an operator-set **baseline value** (the floor) and **leading value** (the
target). The position p runs from 0 at the baseline value to 1 at the leading
value, in the indicator's better direction, clamped to [0, 1]. The default rule
is linear (score = p × max_score); an operator may give their own rule as
points ``(p, score)`` with p and score both non-decreasing (the sector's rule,
e.g. a step), read as a piecewise-linear curve. Weights are operator data too:
the total is computed only when every scored indicator has one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise
from typing import Final


class Direction(StrEnum):
    LOWER_IS_BETTER = "lower_is_better"
    HIGHER_IS_BETTER = "higher_is_better"


# The indicators a meter-based monitor computes, with their unit and better direction.
INDICATORS: Final[dict[str, tuple[str, Direction]]] = {
    "unit_product_energy": ("kgce/unit", Direction.LOWER_IS_BETTER),
    "unit_product_water": ("m3/unit", Direction.LOWER_IS_BETTER),
    "unit_product_carbon": ("kgCO2/unit", Direction.LOWER_IS_BETTER),
    "renewable_share": ("fraction", Direction.HIGHER_IS_BETTER),
    "water_reuse_rate": ("fraction", Direction.HIGHER_IS_BETTER),
}


@dataclass(frozen=True)
class IndicatorSpec:
    """One indicator's operator-set values and scoring rule.

    ``rule`` None is linear; otherwise points ``(position, score)`` from position 0
    to 1, both non-decreasing, scores in [0, max_score].
    """

    id: str
    baseline_value: float
    leading_value: float
    direction: Direction
    unit: str = ""
    weight: float | None = None
    max_score: float = 100.0
    rule: tuple[tuple[float, float], ...] | None = None

    def __post_init__(self) -> None:
        for name in ("baseline_value", "leading_value", "max_score"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{self.id}: {name} must be finite")
        better = self.leading_value - self.baseline_value
        if self.direction is Direction.LOWER_IS_BETTER:
            better = -better
        if not better > 0:
            raise ValueError(
                f"{self.id}: the leading value {self.leading_value:g} must be better than the "
                f"baseline value {self.baseline_value:g} ({self.direction})"
            )
        if self.weight is not None and not (math.isfinite(self.weight) and self.weight >= 0):
            raise ValueError(f"{self.id}: weight must be ≥ 0")
        if self.rule is not None:
            positions = [p for p, _ in self.rule]
            scores = [s for _, s in self.rule]
            if len(self.rule) < 2 or positions[0] != 0 or positions[-1] != 1:
                raise ValueError(f"{self.id}: a rule runs from position 0 to position 1")
            if positions != sorted(positions) or scores != sorted(scores):
                raise ValueError(f"{self.id}: rule positions and scores must not decrease")
            if scores[0] < 0 or scores[-1] > self.max_score:
                raise ValueError(f"{self.id}: rule scores must lie in [0, {self.max_score:g}]")

    @classmethod
    def standard(
        cls, indicator: str, *, baseline_value: float, leading_value: float, **options: object
    ) -> IndicatorSpec:
        """A spec for one of ``INDICATORS``, its unit and direction filled in."""
        unit, direction = INDICATORS[indicator]
        return cls(
            id=indicator,
            baseline_value=baseline_value,
            leading_value=leading_value,
            direction=direction,
            unit=unit,
            **options,  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class IndicatorScore:
    """An indicator's actual value, its position between baseline and leading, and its score."""

    id: str
    actual: float | None
    position: float | None
    score: float | None
    explanation: str


def position(spec: IndicatorSpec, actual: float) -> float:
    """0 at the baseline value, 1 at the leading value, clamped; direction-aware."""
    raw = (actual - spec.baseline_value) / (spec.leading_value - spec.baseline_value)
    return min(1.0, max(0.0, raw))


def score_indicator(spec: IndicatorSpec, actual: float | None) -> IndicatorScore:
    """Score one actual value; None (not measured this period) scores None, never 0."""
    if actual is None:
        return IndicatorScore(spec.id, None, None, None, "not assessed: no value this period")
    if not math.isfinite(actual):
        raise ValueError(f"{spec.id}: actual value must be finite, got {actual!r}")
    p = position(spec, actual)
    points = spec.rule or ((0.0, 0.0), (1.0, spec.max_score))
    score = _interpolate(points, p)
    return IndicatorScore(
        spec.id,
        actual,
        p,
        score,
        f"{actual:.6g} {spec.unit} between baseline {spec.baseline_value:g} and leading "
        f"{spec.leading_value:g}: position {p:.3f} → {score:.2f} of {spec.max_score:g}",
    )


def _interpolate(points: Sequence[tuple[float, float]], p: float) -> float:
    for (p0, s0), (p1, s1) in pairwise(points):
        if p0 <= p <= p1:
            return s1 if p1 == p0 else s0 + (s1 - s0) * (p - p0) / (p1 - p0)
    return points[-1][1]


@dataclass(frozen=True)
class Scorecard:
    """All indicator scores; ``total`` is the weighted mean when every weight is set."""

    scores: tuple[IndicatorScore, ...]
    total: float | None
    notes: tuple[str, ...]


def scorecard(specs: Sequence[IndicatorSpec], actuals: Mapping[str, float | None]) -> Scorecard:
    """Score every spec; the weighted total only when all scored ones have a weight."""
    scores = tuple(score_indicator(spec, actuals.get(spec.id)) for spec in specs)
    notes: list[str] = []
    scored = [(spec, s) for spec, s in zip(specs, scores, strict=True) if s.score is not None]
    missing = [spec.id for spec, s in zip(specs, scores, strict=True) if s.score is None]
    if missing:
        notes.append(f"not assessed this period: {', '.join(missing)}")
    total: float | None = None
    if not scored:
        notes.append("no indicator could be scored")
    elif any(spec.weight is None for spec, _ in scored):
        notes.append("no total: weights are set by the operator (the sector's rules), none given")
    else:
        weight = math.fsum(float(spec.weight or 0.0) for spec, _ in scored)
        if weight > 0:
            total = math.fsum(
                float(spec.weight or 0.0) * float(s.score or 0.0) for spec, s in scored
            )
            total /= weight
    return Scorecard(scores, total, tuple(notes))


def water_reuse_rate(reused_m3: float, intake_m3: float) -> float | None:
    """Reused ÷ (reused + fresh intake), the industrial water reuse rate; None with no water."""
    total = reused_m3 + intake_m3
    return None if total <= 0 else reused_m3 / total


def renewable_share(
    consumption_kwh: float, pv_self_consumed_kwh: float, certificate_kwh: float = 0.0
) -> float | None:
    """Renewable electricity (self-consumed PV + certificate-covered kWh) ÷ consumption, ≤ 1."""
    if consumption_kwh <= 0:
        return None
    return min(1.0, (pv_self_consumed_kwh + certificate_kwh) / consumption_kwh)


def green_factory_indicators(
    *,
    production_units: float,
    comprehensive_kgce: float,
    water_intake_m3: float,
    water_reused_m3: float,
    co2_kg: float,
    consumption_kwh: float,
    pv_self_consumed_kwh: float,
    certificate_kwh: float = 0.0,
) -> dict[str, float | None]:
    """The five indicators from one period's totals; per-unit ones None with no production."""
    units = production_units if production_units > 0 else None
    return {
        "unit_product_energy": None if units is None else comprehensive_kgce / units,
        "unit_product_water": None if units is None else water_intake_m3 / units,
        "unit_product_carbon": None if units is None else co2_kg / units,
        "renewable_share": renewable_share(consumption_kwh, pv_self_consumed_kwh, certificate_kwh),
        "water_reuse_rate": water_reuse_rate(water_reused_m3, water_intake_m3),
    }
