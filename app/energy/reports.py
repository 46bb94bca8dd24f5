"""Savings with CUSUM, comprehensive energy, the scorecard and the targets, as JSON models."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, localcontext

from sqlalchemy.orm import Session

from app.domain.carbon import resolve_carbon_factors
from app.domain.enpi import Price, express_saving, savings_cusum
from app.domain.enpi_model import BaselinePoint
from app.domain.factors import EmissionFactor, FactorNotFound
from app.domain.standard_coal import CoefficientNotFound
from app.domain.tariffs import EXACT
from app.energy import schemas
from app.energy.cost import average_price
from app.energy.series import split_periods
from app.energy.service import EnergyNotConfigured, EnergyService
from app.figures.service import Scope


def savings(
    service: EnergyService,
    session: Session,
    scope: Scope,
    start: datetime,
    end: datetime,
    granularity: str,
    factors: Sequence[EmissionFactor],
) -> schemas.SavingsReport:
    """Adjusted baseline − actual per period, CUSUM, in kWh, kgce, kg CO₂ and money."""
    resolved = service.baseline(session, scope)
    if resolved is None:
        raise EnergyNotConfigured(f"no baseline for {scope.key}: refit one or add it to the file")
    settings = service.settings_for(scope.site.id)
    series = service.series(session, scope, start, end)
    points = service.baseline_points(series, granularity)
    report = savings_cusum(resolved.model, points)
    site = scope.site
    try:
        coal = service.coefficients.resolve(
            carrier="electricity",
            at=start,
            method=settings.boundary.electricity_method,
            site_id=site.id,
        )
    except CoefficientNotFound:
        coal = None
    try:
        grid = resolve_carbon_factors(factors, regions=site.regions(), at=start).grid
    except FactorNotFound:
        grid = None
    priced = average_price(series, settings)
    price = None if priced is None else Price(priced[0], priced[1], priced[2])
    rows = []
    cusum = {"kgce": 0.0, "co2": 0.0}
    money = Decimal(0)
    by_start = {p.start: p for p in points}
    for period in report.periods:
        point: BaselinePoint = by_start[period.start]
        line: dict[str, object] = {
            "saving_kgce": None,
            "cusum_kgce": None,
            "saving_co2_kg": None,
            "cusum_co2_kg": None,
            "saving_money": None,
            "cusum_money": None,
        }
        if period.saving_kwh is not None:
            expressed = express_saving(period.saving_kwh, coal=coal, co2_factor=grid, price=price)
            if expressed.kgce is not None:
                cusum["kgce"] += expressed.kgce
                line.update(saving_kgce=expressed.kgce, cusum_kgce=cusum["kgce"])
            if expressed.co2_kg is not None:
                cusum["co2"] += expressed.co2_kg
                line.update(saving_co2_kg=expressed.co2_kg, cusum_co2_kg=cusum["co2"])
            if expressed.money is not None:
                with localcontext(EXACT):
                    money += expressed.money
                line.update(
                    saving_money=schemas.Money.of(expressed.money, expressed.currency),
                    cusum_money=schemas.Money.of(money, expressed.currency),
                )
        rows.append(
            schemas.SavingPeriod(
                start=period.start,
                end=period.end,
                production_units=point.production_units,
                actual_kwh=period.actual_kwh,
                expected_kwh=period.expected_kwh,
                saving_kwh=period.saving_kwh,
                cusum_kwh=period.cusum_kwh,
                **line,
            )
        )
    total_kwh = report.total_saving_kwh
    total = express_saving(total_kwh or 0.0, coal=coal, co2_factor=grid, price=price)
    return schemas.SavingsReport(
        site_id=site.id,
        area_id=scope.area_id,
        model_id=report.model_id,
        baseline_source=resolved.source,
        valid=report.valid,
        granularity=granularity,
        explanation=report.explanation,
        periods=rows,
        total=schemas.SavingTotal(
            kwh=total_kwh,
            kgce=None if total_kwh is None else total.kgce,
            co2_kg=None if total_kwh is None else total.co2_kg,
            money=None
            if total_kwh is None or total.money is None
            else schemas.Money.of(total.money, total.currency),
        ),
        price_per_kwh=None if price is None else str(round(price.per_kwh, 6)),
        ids={
            "baseline": [resolved.model.model_id],
            "kgce": [] if coal is None else [coal.id],
            "co2_kg": [] if grid is None else [grid.factor_id],
            "money": [] if price is None else price.price_id.split(","),
        },
    )


def comprehensive(
    service: EnergyService,
    session: Session,
    scope: Scope,
    start: datetime,
    end: datetime,
    factors: Sequence[EmissionFactor],
    now: datetime,
) -> schemas.Comprehensive:
    series = service.series(session, scope, start, end)
    perf, ids = service.performance(session, series, start, end, factors, at=now)
    ce = perf.comprehensive
    units = series.totals(start, end).production_units
    return schemas.Comprehensive(
        site_id=scope.site.id,
        area_id=scope.area_id,
        start=start,
        end=end,
        lines=[
            schemas.KgceLine(
                carrier=line.carrier,
                quantity=line.quantity,
                unit=line.unit,
                coefficient_id=line.coefficient_id,
                method=line.method,
                kgce_per_unit=line.kgce_per_unit,
                kgce=line.kgce,
            )
            for line in ce.lines
        ],
        total_kgce=ce.total_kgce,
        total_tce=ce.total_tce,
        production_units=units,
        kgce_per_unit=ce.per_unit(units),
        catalogue_version=service.coefficients.version,
        ids={"kgce": ids["kgce"]},
        notes=list(ce.notes),
    )


def scorecard(
    service: EnergyService,
    session: Session,
    scope: Scope,
    start: datetime,
    end: datetime,
    factors: Sequence[EmissionFactor],
    now: datetime,
    *,
    live: bool,
) -> schemas.ScorecardReport:
    """One scorecard per site-local month of ``[start, end)`` (or this month so far)."""
    settings = service.settings_for(scope.site.id)
    series = service.series(session, scope, start, end)
    specs = {s.id: s for s in settings.scorecard}
    months: list[schemas.ScorecardMonth] = []
    ids: dict[str, list[str]] = {}
    for m_start, m_end in split_periods(start, end, "month", scope.site.zone):
        perf, used = service.performance(session, series, m_start, m_end, factors, at=now)
        for key, values in used.items():
            ids.setdefault(key, [])
            ids[key] += [v for v in values if v not in ids[key]]
        local = m_start.astimezone(scope.site.zone)
        months.append(
            schemas.ScorecardMonth(
                label="live" if live else f"{local.year:04d}-{local.month:02d}",
                start=m_start,
                end=m_end,
                scores=[
                    schemas.Score(
                        id=s.id,
                        unit=specs[s.id].unit,
                        direction=specs[s.id].direction.value,
                        baseline_value=specs[s.id].baseline_value,
                        leading_value=specs[s.id].leading_value,
                        actual=s.actual,
                        position=s.position,
                        score=s.score,
                        explanation=s.explanation,
                    )
                    for s in perf.scorecard.scores
                ],
                total=perf.scorecard.total,
                notes=list(perf.scorecard.notes),
            )
        )
    return schemas.ScorecardReport(
        site_id=scope.site.id,
        area_id=scope.area_id,
        months=months,
        ids=ids,
        illustrative=settings.illustrative,
    )


def targets(
    service: EnergyService,
    session: Session,
    scope: Scope,
    start: datetime,
    end: datetime,
    factors: Sequence[EmissionFactor],
    now: datetime,
) -> schemas.TargetsReport:
    settings = service.settings_for(scope.site.id)
    series = service.series(session, scope, start, end)
    perf, ids = service.performance(session, series, start, end, factors, at=now)
    specs = {t.target.id: t for t in settings.targets}
    lines = []
    for status in perf.targets:
        spec = specs[status.target_id]
        target = spec.target
        lines.append(
            schemas.TargetLine(
                target_id=status.target_id,
                metric=target.metric,
                unit=target.unit,
                co2_basis=spec.co2_basis,
                base_value=target.base_value,
                base_period=spec.base_period,
                reduction=target.reduction,
                plan_start=target.plan_start,
                plan_end=target.plan_end,
                actual=None
                if status.actual is None or not math.isfinite(status.actual)
                else status.actual,
                allowed=status.allowed,
                state=str(status.state),
                reduction_so_far=status.reduction_so_far,
                explanation=status.explanation,
            )
        )
    return schemas.TargetsReport(
        site_id=scope.site.id,
        area_id=scope.area_id,
        start=start,
        end=end,
        at=now,
        targets=lines,
        ids=ids,
        illustrative=settings.illustrative,
    )
