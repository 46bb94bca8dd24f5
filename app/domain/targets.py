"""Intensity targets: CO₂ per unit of product (or of output value) against a plan path.

A target says: from ``base_value`` at ``plan_start``, reduce by ``reduction``
(0.18 = −18 %) by ``plan_end``. The path between is linear in time by default,
or ``compound`` (the same fraction every year, as five-year plans are often
read). At a date the allowed value is the path's value there; an actual at or
below it (plus the operator's tolerance) is on track.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

METRICS: Final[dict[str, str]] = {
    "co2_per_unit": "kgCO2/unit",
    "co2_per_output_value": "kgCO2/CNY",
    "energy_per_unit": "kgce/unit",
}
_SECONDS_PER_YEAR: Final = 365.2425 * 86400


class TargetState(StrEnum):
    ON_TRACK = "on_track"
    OFF_TRACK = "off_track"
    NOT_ASSESSED = "not_assessed"


@dataclass(frozen=True)
class IntensityTarget:
    """A reduction path for one intensity metric; instants are UTC-aware."""

    id: str
    metric: str
    base_value: float
    reduction: float
    plan_start: datetime
    plan_end: datetime
    path: str = "linear"
    tolerance: float = 0.0  # fraction of the path value allowed above it

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"{self.id}: metric {self.metric!r} is not one of {sorted(METRICS)}")
        if not (math.isfinite(self.base_value) and self.base_value > 0):
            raise ValueError(f"{self.id}: base_value must be > 0")
        if not 0 < self.reduction < 1:
            raise ValueError(f"{self.id}: reduction is a fraction in (0, 1), e.g. 0.18 for −18 %")
        for name in ("plan_start", "plan_end"):
            if getattr(self, name).utcoffset() is None:
                raise ValueError(f"{self.id}: {name} needs a UTC offset")
        if self.plan_end <= self.plan_start:
            raise ValueError(f"{self.id}: plan_end is not after plan_start")
        if self.path not in ("linear", "compound"):
            raise ValueError(f"{self.id}: path must be 'linear' or 'compound'")
        if not 0 <= self.tolerance < 1:
            raise ValueError(f"{self.id}: tolerance is a fraction in [0, 1)")

    @property
    def unit(self) -> str:
        return METRICS[self.metric]

    @property
    def end_value(self) -> float:
        return self.base_value * (1.0 - self.reduction)

    def value_at(self, at: datetime) -> float:
        """The path's value at ``at``: base before the plan, the end value after it."""
        span = (self.plan_end - self.plan_start).total_seconds()
        elapsed = min(max((at - self.plan_start).total_seconds(), 0.0), span)
        fraction = elapsed / span
        if self.path == "linear":
            return self.base_value * (1.0 - self.reduction * fraction)
        return float(self.base_value * (1.0 - self.reduction) ** fraction)

    def annual_rate(self) -> float:
        """The compound yearly reduction the whole plan amounts to."""
        years = (self.plan_end - self.plan_start).total_seconds() / _SECONDS_PER_YEAR
        return float(1.0 - (1.0 - self.reduction) ** (1.0 / years))


@dataclass(frozen=True)
class TargetStatus:
    """Where an actual intensity stands against the path at one date."""

    target_id: str
    at: datetime
    actual: float | None
    allowed: float
    state: TargetState
    reduction_so_far: float | None  # fraction below base_value; negative = above it
    explanation: str


def intensity(numerator: float, denominator: float) -> float | None:
    """numerator ÷ denominator (kg CO₂ per unit or per CNY); None when the denominator is 0."""
    return None if denominator <= 0 else numerator / denominator


def target_status(target: IntensityTarget, actual: float | None, at: datetime) -> TargetStatus:
    """On track when ``actual`` ≤ the path value at ``at`` × (1 + tolerance)."""
    allowed = target.value_at(at)
    if actual is None:
        return TargetStatus(
            target.id, at, None, allowed, TargetState.NOT_ASSESSED, None, "no value this period"
        )
    limit = allowed * (1.0 + target.tolerance)
    state = TargetState.ON_TRACK if actual <= limit else TargetState.OFF_TRACK
    so_far = (target.base_value - actual) / target.base_value
    return TargetStatus(
        target.id,
        at,
        actual,
        allowed,
        state,
        so_far,
        f"{actual:.4g} {target.unit} against {allowed:.4g} allowed on the path "
        f"(−{target.reduction:.0%} from {target.base_value:g} by {target.plan_end.date()}): "
        f"{so_far:.1%} below base so far",
    )
