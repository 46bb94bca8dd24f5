"""Energy performance of a site or area from its rollups: EnPIs, baselines, savings, kgce,
scorecard and targets. Cost is in ``app.energy.cost``.

One ``EnergyService`` per API process holds the sites' energy settings and the
coefficient catalogue; each call takes the request's session, the scope, the
emission factors in force (read-only, from the figures' service) and the moment.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from app.carbon import store as carbon_store
from app.domain.carbon import CarbonFigures, allocate_certificates
from app.domain.energy_performance import EnergyPerformance, baseline_energy_kwh, energy_performance
from app.domain.energy_settings import EnergySettings
from app.domain.enpi import PeriodUse, enpi_ratios
from app.domain.enpi_model import BaselineModel, BaselinePoint, ValidityRules, fit_baseline
from app.domain.factors import EmissionFactor
from app.domain.periods import date_range_bounds, local_date
from app.domain.plant import Resource
from app.energy import queries, schemas, store
from app.energy.catalogue import CoefficientCatalogue
from app.energy.models import EnergyBaselineRow
from app.energy.series import (
    RESOLUTION_MINUTES,
    ScopeSeries,
    carbon_for,
    scope_meters,
    split_periods,
)
from app.figures.service import Scope

CO2_SOURCE = "app.domain.carbon.compute_carbon (the live figures' inventory), location-based"


class EnergyNotConfigured(LookupError):  # noqa: N818 (reads as what it is)
    """The site has no energy file, or the figure needs a setting it lacks."""


@dataclass(frozen=True)
class ResolvedBaseline:
    model: BaselineModel
    source: str  # "stored" | "energy_file"
    points: tuple[BaselinePoint, ...]
    granularity: str
    row: EnergyBaselineRow | None


class EnergyService:
    def __init__(
        self,
        energy: Mapping[str, EnergySettings],
        coefficients: CoefficientCatalogue,
        *,
        resolution: str = queries.ENERGY_RESOLUTION,
    ) -> None:
        self.energy = dict(energy)
        self.coefficients = coefficients
        self.resolution = resolution

    def settings_for(self, site_id: str) -> EnergySettings:
        try:
            return self.energy[site_id]
        except KeyError:
            raise EnergyNotConfigured(f"site {site_id!r} has no energy file") from None

    def series(self, session: Session, scope: Scope, start: datetime, end: datetime) -> ScopeSeries:
        flow_of = scope_meters(scope, self.energy.get(scope.site.id))
        rows = queries.rollup_buckets(session, list(flow_of), start, end, self.resolution)
        minutes = RESOLUTION_MINUTES.get(self.resolution, 60)
        return ScopeSeries.from_rows(scope, start, end, rows, flow_of, minutes)

    def certificate_kwh(
        self, session: Session, series: ScopeSeries, start: datetime, end: datetime
    ) -> float:
        """Certificate-covered grid import of ``[start, end)`` (whole site only).

        Each certificate covers the import of its own period in time order until used
        up (``allocate_certificates``), as in the live figures.
        """
        if not series.whole_site:
            return 0.0
        site = series.scope.site
        zone = site.zone
        meters = [m.id for m in site.meters if m.resource is Resource.ELECTRICITY_IMPORT]
        last = local_date(end - timedelta(microseconds=1), zone)
        covered = 0.0
        for cert in carbon_store.certificates(session, site.id):
            after_last = cert.claimed_last + timedelta(days=1)
            if cert.claimed_first > last or after_last <= local_date(start, zone):
                continue
            cert_start, cert_end = date_range_bounds(cert.claimed_first, after_last, zone)
            lo, hi = max(cert_start, start), min(cert_end, end)
            if hi <= lo:
                continue
            before = _sum(queries.rollup_buckets(session, meters, cert_start, lo, self.resolution))
            during = _sum(queries.rollup_buckets(session, meters, lo, hi, self.resolution))
            covered += allocate_certificates(float(cert.kwh), before, during)
        return min(covered, series.total("import", start, end))

    def performance(
        self,
        session: Session,
        series: ScopeSeries,
        start: datetime,
        end: datetime,
        factors: Sequence[EmissionFactor],
        *,
        at: datetime,
        baseline: BaselineModel | None = None,
    ) -> tuple[EnergyPerformance, dict[str, list[str]]]:
        """The domain's figures for ``[start, end)`` and the ids of the factors behind CO₂."""
        settings = self.settings_for(series.scope.site.id)
        certificates = self.certificate_kwh(session, series, start, end)
        totals = replace(series.totals(start, end), certificate_kwh=certificates)
        carbon = carbon_for(series, start, end, factors, certificate_kwh=certificates)
        if carbon is not None:
            totals = replace(
                totals,
                co2_location_kg=carbon.inventory_location_kg,
                co2_market_kg=carbon.inventory_market_kg,
            )
        perf = energy_performance(
            totals, settings, self.coefficients.coefficients, at=at, baseline_model=baseline
        )
        ids = {
            "kgce": list(perf.comprehensive.coefficient_ids),
            "co2_location_kg": _ids(carbon, "inventory_location_kg"),
            "co2_market_kg": _ids(carbon, "inventory_market_kg"),
        }
        return perf, ids

    # --- baselines -------------------------------------------------------------------

    def baseline(self, session: Session, scope: Scope) -> ResolvedBaseline | None:
        """The stored refit for the scope, else (whole site) the energy file's baseline."""
        stored = store.stored_baseline(session, scope.site.id, scope.area_id)
        if stored is not None:
            model, points, row = stored
            return ResolvedBaseline(model, "stored", points, row.granularity, row)
        settings = self.energy.get(scope.site.id)
        if scope.area_id is None and settings is not None and settings.baseline is not None:
            fitted = settings.baseline.fit()
            if fitted is not None:
                return ResolvedBaseline(
                    fitted, "energy_file", settings.baseline.points, "month", None
                )
        return None

    def baseline_points(self, series: ScopeSeries, granularity: str) -> list[BaselinePoint]:
        """One point per site-local hour, day or month that has readings."""
        settings = self.settings_for(series.scope.site.id)
        zone = series.scope.site.zone
        points = []
        for start, end in split_periods(series.start, series.end, granularity, zone):
            if not series.has_data(start, end):
                continue
            totals = series.totals(start, end)
            points.append(
                BaselinePoint(
                    start, end, baseline_energy_kwh(totals, settings), totals.production_units
                )
            )
        return points

    def refit(
        self,
        session: Session,
        scope: Scope,
        request: schemas.RefitRequest,
        *,
        now: datetime,
        by: str | None = None,
    ) -> ResolvedBaseline:
        """Fit the baseline on the scope's own rollups and store it.

        Raises:
            ValueError: fewer than 3 periods with readings, or a bad period.
        """
        settings = self.settings_for(scope.site.id)
        start, end = date_range_bounds(request.start, request.end, scope.site.zone)
        series = self.series(session, scope, start, end)
        points = self.baseline_points(series, request.granularity)
        base = settings.baseline.rules if settings.baseline is not None else ValidityRules()
        rules = ValidityRules(
            min_r_squared=_or(request.min_r_squared, base.min_r_squared),
            min_points=int(_or(request.min_points, base.min_points)),
            max_cv_rmse=request.max_cv_rmse
            if request.max_cv_rmse is not None
            else base.max_cv_rmse,
        )
        key = scope.area_id or "site"
        model_id = request.model_id or f"{scope.site.id}-{key}-{request.start}-{request.end}"
        model = fit_baseline(points, model_id=model_id, rules=rules)
        row = store.save_baseline(
            session,
            site_id=scope.site.id,
            area_id=scope.area_id,
            model=model,
            points=points,
            rules=rules,
            granularity=request.granularity,
            fitted_at=now,
            fitted_by=by,
        )
        return ResolvedBaseline(model, "stored", tuple(points), request.granularity, row)

    # --- EnPIs -------------------------------------------------------------------------

    def enpi(
        self,
        session: Session,
        scope: Scope,
        reporting: tuple[datetime, datetime],
        baseline: tuple[datetime, datetime],
        factors: Sequence[EmissionFactor],
        *,
        now: datetime,
    ) -> schemas.EnpiReport:
        settings = self.settings_for(scope.site.id)
        notes: list[str] = []
        uses: list[PeriodUse] = []
        outs: list[schemas.PeriodTotals] = []
        ids: dict[str, list[str]] = {}
        for start, end in (reporting, baseline):
            series = self.series(session, scope, start, end)
            perf, used = self.performance(session, series, start, end, factors, at=now)
            totals = series.totals(start, end)
            co2 = perf.indicators.get("unit_product_carbon")
            co2_kg = None if co2 is None else co2 * totals.production_units
            if co2 is None and totals.production_units <= 0:
                carbon = carbon_for(series, start, end, factors)
                co2_kg = None if carbon is None else carbon.inventory_location_kg
            kgce = perf.comprehensive.total_kgce
            outs.append(
                schemas.PeriodTotals(
                    start=start,
                    end=end,
                    energy_kwh=totals.site_consumption_kwh,
                    production_units=totals.production_units,
                    kgce=kgce,
                    water_m3=totals.water_intake_m3,
                    co2_kg=co2_kg,
                    has_readings=series.has_data(start, end),
                )
            )
            uses.append(
                PeriodUse(
                    totals.site_consumption_kwh,
                    totals.production_units,
                    kgce=kgce,
                    water_m3=totals.water_intake_m3,
                    co2_kg=co2_kg,
                )
            )
            for name, values in used.items():
                ids.setdefault(name, [])
                ids[name] += [v for v in values if v not in ids[name]]
        source = "rollups"
        file_base = settings.baseline
        if (
            not outs[1].has_readings
            and scope.area_id is None
            and file_base is not None
            and file_base.points
            and (file_base.start, file_base.end) == baseline
        ):
            # the baseline year predates the readings: its monthly totals from the file
            source = "energy_file_points"
            energy = math.fsum(p.energy_kwh for p in file_base.points)
            units = math.fsum(p.production_units for p in file_base.points)
            uses[1] = PeriodUse(energy, units)
            outs[1] = outs[1].model_copy(
                update={
                    "energy_kwh": energy,
                    "production_units": units,
                    "kgce": None,
                    "co2_kg": None,
                }
            )
            notes.append(
                f"baseline period from the energy file's points ({file_base.id}): "
                "kWh/unit only, no kgce, water or CO₂ for it"
            )
        lines = [
            schemas.EnpiLine(
                name=r.name,
                unit=r.unit,
                baseline_per_unit=r.baseline_per_unit,
                reporting_per_unit=r.reporting_per_unit,
                improvement=r.improvement,
                savings=r.savings,
            )
            for r in enpi_ratios(uses[1], uses[0])
        ]
        return schemas.EnpiReport(
            site_id=scope.site.id,
            area_id=scope.area_id,
            reporting=outs[0],
            baseline=outs[1],
            baseline_source=source,
            enpis=lines,
            ids=ids,
            co2_source=CO2_SOURCE,
            illustrative=settings.illustrative,
            notes=notes,
        )


def _ids(carbon: CarbonFigures | None, key: str) -> list[str]:
    return [] if carbon is None else list(carbon.factor_ids.get(key, ()))


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _sum(rows: Sequence[tuple[str, datetime, float]]) -> float:
    return math.fsum(quantity for _, _, quantity in rows)
