"""Regression energy baselines (ISO 50006:2023, IPMVP option C).

energy_kwh = a · production_units + b (+ c · degree_days), fitted by ordinary
least squares on the points of a baseline period (usually months). ``b`` is the
fixed load of a baseline period of mean length: the fixed load is a constant
power (``base_load_kw`` = b ÷ mean hours), so in the fit each point's fixed term
is b × its hours ÷ the mean hours, and a prediction for a period of any length
(an hour, a day, a February) uses base_load_kw × its hours. With periods of equal
length this is the textbook fit with an intercept b.

The model reports R², CV(RMSE) (root-mean-square residual with n − p degrees of
freedom over the mean energy, as ASHRAE Guideline 14 defines it), n and each
validity check; a model that fails any check is not valid and
``adjusted_baseline`` then claims nothing.

Not to be confused with ``app.domain.baseline``: that is the alert baseline
(recent power for spike detection).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np


@dataclass(frozen=True)
class BaselinePoint:
    """One period's metered energy and its drivers; ``[start, end)`` as UTC instants."""

    start: datetime
    end: datetime
    energy_kwh: float
    production_units: float
    degree_days: float | None = None

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            if getattr(self, name).utcoffset() is None:
                raise ValueError(f"{name} {getattr(self, name).isoformat()} needs a UTC offset")
        if self.end <= self.start:
            raise ValueError(f"period end {self.end.isoformat()} is not after its start")
        for name in ("energy_kwh", "production_units", "degree_days"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}")

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600.0


@dataclass(frozen=True)
class ValidityRules:
    """When a fitted baseline may be used to claim savings (defaults: ISO 50006 practice)."""

    min_r_squared: float = 0.75
    min_points: int = 12
    max_cv_rmse: float | None = None  # e.g. 0.15 for monthly models (ASHRAE Guideline 14)

    def __post_init__(self) -> None:
        if not 0 <= self.min_r_squared <= 1:
            raise ValueError(f"min_r_squared must be in [0, 1], got {self.min_r_squared!r}")
        if self.min_points < 3:
            raise ValueError(f"min_points must be ≥ 3, got {self.min_points!r}")
        if self.max_cv_rmse is not None and not self.max_cv_rmse > 0:
            raise ValueError(f"max_cv_rmse must be > 0, got {self.max_cv_rmse!r}")


@dataclass(frozen=True)
class ValidityCheck:
    """One check on the fitted model, with the value found and the threshold it met or not."""

    name: str
    passed: bool
    value: float
    threshold: float
    explanation: str


@dataclass(frozen=True)
class BaselineModel:
    """A fitted baseline: coefficients, statistics and the checks that make it valid or not."""

    model_id: str
    kwh_per_unit: float  # a
    fixed_kwh_per_period: float  # b
    kwh_per_degree_day: float | None  # c, None when no weather series is used
    mean_period_hours: float
    n: int
    r_squared: float
    cv_rmse: float
    period_start: datetime
    period_end: datetime
    checks: tuple[ValidityCheck, ...]

    @property
    def valid(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def base_load_kw(self) -> float:
        """The fixed load as a constant power: b ÷ the baseline points' mean hours."""
        return self.fixed_kwh_per_period / self.mean_period_hours

    @property
    def failed_checks(self) -> tuple[ValidityCheck, ...]:
        return tuple(check for check in self.checks if not check.passed)

    @property
    def equation(self) -> str:
        text = f"E = {self.kwh_per_unit:.6g} kWh/unit × P + {self.fixed_kwh_per_period:.6g} kWh"
        if self.kwh_per_degree_day is not None:
            text += f" + {self.kwh_per_degree_day:.6g} kWh/DD × DD"
        return text

    def predict_kwh(
        self,
        production_units: float,
        *,
        hours: float | None = None,
        degree_days: float | None = None,
    ) -> float:
        """Energy the baseline expects for a period (valid or not; see ``adjusted_baseline``).

        Args:
            production_units: units produced in the period.
            hours: the period's length; None → a baseline-sized period (b as fitted).
            degree_days: required when the model uses degree-days.

        Raises:
            ValueError: the model uses degree-days and none were given.
        """
        fixed = self.fixed_kwh_per_period if hours is None else self.base_load_kw * hours
        energy = self.kwh_per_unit * production_units + fixed
        if self.kwh_per_degree_day is not None:
            if degree_days is None:
                raise ValueError(f"model {self.model_id} uses degree-days: give the period's")
            energy += self.kwh_per_degree_day * degree_days
        return energy


def fit_baseline(
    points: Sequence[BaselinePoint],
    *,
    model_id: str,
    rules: ValidityRules | None = None,
) -> BaselineModel:
    """Fit energy = a·production + b (+ c·degree-days when every point has them) by OLS.

    A model is returned whatever the data; when the drivers do not vary (the fit is
    singular) or a rule fails, ``valid`` is False and ``checks`` say why.

    Raises:
        ValueError: fewer than 3 points, or degree-days on some points but not all.
    """
    rules = rules or ValidityRules()
    if len(points) < 3:
        raise ValueError(f"a baseline needs at least 3 points, got {len(points)}")
    with_dd = [p.degree_days is not None for p in points]
    if any(with_dd) and not all(with_dd):
        raise ValueError("degree-days are given for some baseline points but not all")
    use_dd = all(with_dd)
    energy = np.array([p.energy_kwh for p in points], dtype=float)
    mean_hours = math.fsum(pt.hours for pt in points) / len(points)
    columns = [[p.production_units for p in points], [p.hours / mean_hours for p in points]]
    if use_dd:
        columns.append([float(p.degree_days or 0.0) for p in points])
    design = np.array(columns, dtype=float).T
    solution, _, rank, _ = np.linalg.lstsq(design, energy, rcond=None)
    n, p = design.shape
    residuals = energy - design @ solution
    ss_res = float(residuals @ residuals)
    mean = float(energy.mean())
    ss_tot = float(((energy - mean) ** 2).sum())
    r_squared = 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0
    dof = n - p
    cv_rmse = math.sqrt(ss_res / dof) / mean if dof > 0 and mean > 0 else math.inf

    checks = [
        ValidityCheck(
            "drivers_vary",
            passed=int(rank) == p,
            value=float(rank),
            threshold=float(p),
            explanation="the drivers must vary over the baseline period for a slope to be fitted",
        ),
        ValidityCheck(
            "min_points",
            passed=n >= rules.min_points,
            value=float(n),
            threshold=float(rules.min_points),
            explanation=f"{n} baseline points; at least {rules.min_points} needed",
        ),
        ValidityCheck(
            "min_r_squared",
            passed=r_squared >= rules.min_r_squared,
            value=r_squared,
            threshold=rules.min_r_squared,
            explanation=f"R² {r_squared:.3f}; at least {rules.min_r_squared:g} needed",
        ),
    ]
    if rules.max_cv_rmse is not None:
        checks.append(
            ValidityCheck(
                "max_cv_rmse",
                passed=cv_rmse <= rules.max_cv_rmse,
                value=cv_rmse,
                threshold=rules.max_cv_rmse,
                explanation=f"CV(RMSE) {cv_rmse:.1%}; at most {rules.max_cv_rmse:.1%} allowed",
            )
        )
    return BaselineModel(
        model_id=model_id,
        kwh_per_unit=float(solution[0]),
        fixed_kwh_per_period=float(solution[1]),
        kwh_per_degree_day=float(solution[2]) if use_dd else None,
        mean_period_hours=mean_hours,
        n=n,
        r_squared=r_squared,
        cv_rmse=cv_rmse,
        period_start=min(pt.start for pt in points),
        period_end=max(pt.end for pt in points),
        checks=tuple(checks),
    )


@dataclass(frozen=True)
class AdjustedBaseline:
    """What the baseline expects for one period; ``expected_kwh`` None when the model is invalid."""

    model_id: str
    valid: bool
    expected_kwh: float | None
    explanation: str


def adjusted_baseline(
    model: BaselineModel,
    *,
    production_units: float,
    hours: float,
    degree_days: float | None = None,
) -> AdjustedBaseline:
    """The adjusted-baseline energy for a period (the efficiency lever's expected kWh).

    An invalid model expects nothing: ``expected_kwh`` is None and the
    explanation names the failed checks, so no saving can be claimed from it.
    """
    if not model.valid:
        failed = "; ".join(check.explanation for check in model.failed_checks)
        return AdjustedBaseline(model.model_id, False, None, f"baseline not valid: {failed}")
    expected = model.predict_kwh(production_units, hours=hours, degree_days=degree_days)
    text = (
        f"{model.kwh_per_unit:.6g} kWh/unit × {production_units:g} units + "
        f"{model.base_load_kw:.6g} kW fixed load × {hours:g} h"
    )
    if model.kwh_per_degree_day is not None:
        text += f" + {model.kwh_per_degree_day:.6g} kWh/DD × {degree_days:g} DD"
    return AdjustedBaseline(
        model.model_id,
        True,
        expected,
        f"{text} (baseline {model.model_id}, R² {model.r_squared:.3f})",
    )
