"""Energy performance routes: EnPIs, baseline (read and refit), savings, cost, kgce,
scorecard and targets, per site or (``area_id``) per area and its sub-areas.

Periods are site-local dates: ``start`` is the first day, ``end`` the day after the
last (both default to this month so far). Read with the read token; refitting a
baseline needs the write token.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status

from app.api.deps import PlantDep, SessionDep, resolve_scope
from app.api.state import AppState, StateDep
from app.auth.deps import ReadAccess, WriteAccess
from app.domain.periods import date_range_bounds, local_date
from app.domain.standard_coal import CoefficientNotFound
from app.energy import reports, schemas, store
from app.energy.cost import cost_report
from app.energy.service import EnergyNotConfigured, ResolvedBaseline
from app.figures.service import Scope

router = APIRouter(prefix="/api/v1/sites/{site_id}/energy", tags=["energy"])

AreaQuery = Annotated[str | None, Query(description="an area (with its sub-areas); none = site")]
StartQuery = Annotated[date | None, Query(description="first site-local day; default 1st of month")]
EndQuery = Annotated[
    date | None, Query(description="site-local day after the last; default tomorrow")
]


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except EnergyNotConfigured as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except (ValueError, LookupError, CoefficientNotFound) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


def _period(
    state: AppState, scope: Scope, start: date | None, end: date | None
) -> tuple[datetime, datetime]:
    zone = scope.site.zone
    today = local_date(state.clock(), zone)
    first = start or today.replace(day=1)
    after = end or today + timedelta(days=1)
    if after <= first:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "end must be after start")
    return date_range_bounds(first, after, zone)


def _scope(state: AppState, plant: PlantDep, site_id: str, area_id: str | None) -> Scope:
    scope = resolve_scope(plant, site_id, area_id)
    if site_id not in state.energy.energy:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"site {site_id!r} has no energy file")
    return scope


@router.get("/enpi", response_model=schemas.EnpiReport)
def enpi(
    site_id: str,
    state: StateDep,
    plant: PlantDep,
    session: SessionDep,
    _: ReadAccess,
    area_id: AreaQuery = None,
    start: StartQuery = None,
    end: EndQuery = None,
    baseline_start: Annotated[date | None, Query(description="default: the file's")] = None,
    baseline_end: Annotated[date | None, Query(description="default: the file's")] = None,
) -> schemas.EnpiReport:
    """kWh, kgce, m³ water and kg CO₂ per unit for a period against a baseline period."""
    scope = _scope(state, plant, site_id, area_id)
    with _errors():
        reporting = _period(state, scope, start, end)
        spec = state.energy.settings_for(site_id).baseline
        if baseline_start is None and baseline_end is None and spec is not None:
            base = (spec.start, spec.end)
        else:
            base = _period(state, scope, baseline_start, baseline_end)
        return state.energy.enpi(
            session, scope, reporting, base, state.figures.factors, now=state.clock()
        )


def _baseline_json(scope: Scope, resolved: ResolvedBaseline) -> schemas.Baseline:
    model, row = resolved.model, resolved.row
    return schemas.Baseline(
        site_id=scope.site.id,
        area_id=scope.area_id,
        source=resolved.source,
        model_id=model.model_id,
        equation=model.equation,
        kwh_per_unit=model.kwh_per_unit,
        fixed_kwh_per_period=model.fixed_kwh_per_period,
        kwh_per_degree_day=model.kwh_per_degree_day,
        base_load_kw=model.base_load_kw,
        mean_period_hours=model.mean_period_hours,
        r_squared=model.r_squared,
        cv_rmse=model.cv_rmse if model.cv_rmse != float("inf") else None,
        n=model.n,
        valid=model.valid,
        checks=[
            schemas.Check(
                name=c.name,
                passed=c.passed,
                value=c.value if c.value != float("inf") else None,
                threshold=c.threshold,
                explanation=c.explanation,
            )
            for c in model.checks
        ],
        period_start=model.period_start,
        period_end=model.period_end,
        granularity=resolved.granularity,
        fitted_at=None if row is None else row.fitted_at,
        fitted_by=None if row is None else row.fitted_by,
        points=[
            schemas.Point(
                start=p.start,
                end=p.end,
                energy_kwh=p.energy_kwh,
                production_units=p.production_units,
                degree_days=p.degree_days,
            )
            for p in resolved.points
        ],
    )


@router.get("/baseline", response_model=schemas.Baseline)
def baseline(
    site_id: str,
    state: StateDep,
    plant: PlantDep,
    session: SessionDep,
    _: ReadAccess,
    area_id: AreaQuery = None,
) -> schemas.Baseline:
    """The baseline model in use: a, b, (c), R², CV(RMSE), n and every validity check."""
    scope = _scope(state, plant, site_id, area_id)
    resolved = state.energy.baseline(session, scope)
    if resolved is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no baseline for {scope.key}")
    return _baseline_json(scope, resolved)


@router.post("/baseline", response_model=schemas.Baseline)
def refit_baseline(
    site_id: str,
    body: schemas.RefitRequest,
    state: StateDep,
    plant: PlantDep,
    session: SessionDep,
    _: WriteAccess,
    area_id: AreaQuery = None,
) -> schemas.Baseline:
    """Fit the baseline on this scope's own rollups over a baseline period and store it."""
    scope = _scope(state, plant, site_id, area_id)
    with _errors():
        resolved = state.energy.refit(session, scope, body, now=state.clock(), by="api")
    return _baseline_json(scope, resolved)


@router.delete("/baseline", response_model=schemas.Baseline)
def drop_baseline(
    site_id: str,
    state: StateDep,
    plant: PlantDep,
    session: SessionDep,
    _: WriteAccess,
    area_id: AreaQuery = None,
) -> schemas.Baseline:
    """Drop the stored refit: the scope goes back to the energy file's baseline (if any)."""
    scope = _scope(state, plant, site_id, area_id)
    store.drop_baseline(session, site_id, area_id)
    resolved = state.energy.baseline(session, scope)
    if resolved is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no baseline left for {scope.key}")
    return _baseline_json(scope, resolved)


@router.get("/savings", response_model=schemas.SavingsReport)
def savings(
    site_id: str,
    state: StateDep,
    plant: PlantDep,
    session: SessionDep,
    _: ReadAccess,
    area_id: AreaQuery = None,
    start: StartQuery = None,
    end: EndQuery = None,
    granularity: schemas.Granularity = "day",
) -> schemas.SavingsReport:
    """Adjusted baseline − actual per reporting period and the CUSUM, in kWh, kgce, CO₂, money."""
    scope = _scope(state, plant, site_id, area_id)
    with _errors():
        first, after = _period(state, scope, start, end)
        return reports.savings(
            state.energy, session, scope, first, after, granularity, state.figures.factors
        )


@router.get("/cost", response_model=schemas.CostReport)
def cost(
    site_id: str,
    state: StateDep,
    plant: PlantDep,
    session: SessionDep,
    _: ReadAccess,
    area_id: AreaQuery = None,
    start: StartQuery = None,
    end: EndQuery = None,
    by: schemas.Granularity = "day",
    resource: Literal["electricity", "gas", "water"] = "electricity",
    shift_kwh: Annotated[float | None, Query(ge=0, description="kWh to move peak→valley")] = None,
) -> schemas.CostReport:
    """Cost per hour, day or month, energy by ToU period, demand charge, load-shift saving."""
    scope = _scope(state, plant, site_id, area_id)
    with _errors():
        first, after = _period(state, scope, start, end)
        series = state.energy.series(session, scope, first, after)
        return cost_report(
            series,
            state.energy.settings_for(site_id),
            resource=resource,
            by=by,
            shift_kwh=shift_kwh,
        )


@router.get("/comprehensive", response_model=schemas.Comprehensive)
def comprehensive(
    site_id: str,
    state: StateDep,
    plant: PlantDep,
    session: SessionDep,
    _: ReadAccess,
    area_id: AreaQuery = None,
    start: StartQuery = None,
    end: EndQuery = None,
) -> schemas.Comprehensive:
    """Comprehensive energy consumption in kgce and tce (GB/T 2589-2020), per unit too."""
    scope = _scope(state, plant, site_id, area_id)
    with _errors():
        first, after = _period(state, scope, start, end)
        return reports.comprehensive(
            state.energy, session, scope, first, after, state.figures.factors, state.clock()
        )


@router.get("/scorecard", response_model=schemas.ScorecardReport)
def scorecard(
    site_id: str,
    state: StateDep,
    plant: PlantDep,
    session: SessionDep,
    _: ReadAccess,
    area_id: AreaQuery = None,
    start: StartQuery = None,
    end: EndQuery = None,
) -> schemas.ScorecardReport:
    """The green-factory scorecard for each site-local month of the period."""
    scope = _scope(state, plant, site_id, area_id)
    with _errors():
        first, after = _period(state, scope, start, end)
        return reports.scorecard(
            state.energy,
            session,
            scope,
            first,
            after,
            state.figures.factors,
            state.clock(),
            live=False,
        )


@router.get("/scorecard/live", response_model=schemas.ScorecardReport)
def scorecard_live(
    site_id: str,
    state: StateDep,
    plant: PlantDep,
    session: SessionDep,
    _: ReadAccess,
    area_id: AreaQuery = None,
) -> schemas.ScorecardReport:
    """The scorecard for this site-local month so far (up to now)."""
    scope = _scope(state, plant, site_id, area_id)
    with _errors():
        now = state.clock()
        first, _after = _period(state, scope, None, None)
        return reports.scorecard(
            state.energy, session, scope, first, now, state.figures.factors, now, live=True
        )


@router.get("/targets", response_model=schemas.TargetsReport)
def targets(
    site_id: str,
    state: StateDep,
    plant: PlantDep,
    session: SessionDep,
    _: ReadAccess,
    area_id: AreaQuery = None,
    start: StartQuery = None,
    end: EndQuery = None,
) -> schemas.TargetsReport:
    """Intensity targets (CO₂ per unit, per output value, kgce per unit) against their path."""
    scope = _scope(state, plant, site_id, area_id)
    with _errors():
        first, after = _period(state, scope, start, end)
        return reports.targets(
            state.energy, session, scope, first, after, state.figures.factors, state.clock()
        )
