"""A site's CO₂ for site-local periods, from the 15-minute and local-day rollups.

The reads are the 15-minute rows of the current local day and the local-day rows
before it (exact when every factor window of the site's regions opens at a local
midnight, ``windows_on_local_days``; otherwise 15-minute rows throughout). Each
bucket (or day) is valued with the factor valid then (``period_carbon``);
certificates cover the consumption of their claimed periods, never more; offsets
count on their site-local retirement day; areas get the site's scope 2 by their
sub-metered consumption (``scope2_by_area``).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from app.carbon import store
from app.domain.allocation import Allocation, Area
from app.domain.certificates import Coverage, cover_consumption
from app.domain.enpi_model import BaselineModel, adjusted_baseline
from app.domain.factors import EmissionFactor
from app.domain.instruments import Certificate, Offset
from app.domain.period_carbon import BucketSeries, PeriodCarbon, period_carbon, scope2_by_area
from app.domain.periods import Period, date_range_bounds, day_bounds, local_date, local_period
from app.domain.plant import Meter, Plant, Resource, Site
from app.domain.time_of_use import windows_on_local_days
from app.energy.file import EnergyFileError, demo_energy_path, load_energy_file
from app.figures import queries
from app.figures.queries import Series

ZERO = Decimal(0)


@dataclass(frozen=True)
class SiteSeries:
    """Everything the figures of ``[start, end)`` need, read once per snapshot."""

    start: datetime
    end: datetime
    per_meter: Mapping[str, Series]
    buckets: BucketSeries
    coverage: Coverage | None
    certificates: tuple[Certificate, ...]
    offsets: tuple[Offset, ...]
    baseline_name: str
    baseline_note: str | None


def _sum_by_key(
    per_meter: Mapping[str, Series], meters: Sequence[Meter], resource: Resource
) -> dict[datetime, Decimal]:
    out: dict[datetime, Decimal] = {}
    for meter in meters:
        if meter.resource is resource:
            for key, q in per_meter.get(meter.id, ()):
                out[key] = out.get(key, ZERO) + q
    return out


def _read(
    session: Session, ids: list[str], start: datetime, end: datetime, fine_from: datetime
) -> dict[str, Series]:
    """Local-day rows for ``[start, fine_from)``, 15-minute rows for ``[fine_from, end)``."""
    days = queries.series(session, ids, start, min(fine_from, end), days=True)
    fine = queries.series(session, ids, max(fine_from, start), end, days=False)
    return {m: [*days.get(m, []), *fine.get(m, [])] for m in ids}


def load(
    session: Session,
    site: Site,
    factors: Sequence[EmissionFactor],
    start: datetime,
    end: datetime,
    now: datetime,
    baseline_model: BaselineModel | None = None,
) -> SiteSeries:
    """The site's series for ``[start, end)`` (local day starts), certificates and offsets."""
    zone = site.zone
    today = local_period("day", now, zone)
    exact_days = windows_on_local_days(factors, site.regions(), zone)
    fine_from = max(start, today.start) if exact_days else start
    meters = list(site.meters)
    per_meter = _read(session, [m.id for m in meters], start, end, fine_from)
    certificates = tuple(store.certificates(session, site.id))
    claimed = [
        date_range_bounds(c.claimed_first, c.claimed_last + timedelta(days=1), zone)
        for c in certificates
    ]
    relevant = tuple(
        c for c, (s, e) in zip(certificates, claimed, strict=True) if s < end and e > start
    )
    imported = _sum_by_key(per_meter, meters, Resource.ELECTRICITY_IMPORT)
    coverage = None
    if relevant:
        cover_from = min(
            [start, *(s for c, (s, e) in zip(certificates, claimed, strict=True) if c in relevant)]
        )
        earlier: dict[datetime, Decimal] = {}
        if cover_from < start:
            import_ids = [m.id for m in meters if m.resource is Resource.ELECTRICITY_IMPORT]
            before = _read(
                session, import_ids, cover_from, start, start if exact_days else cover_from
            )
            for rows in before.values():
                for key, q in rows:
                    earlier[key] = earlier.get(key, ZERO) + q
        consumption = sorted({**earlier, **imported}.items())
        coverage = cover_consumption(
            relevant, [(k, max(q, ZERO)) for k, q in consumption], zone, as_of=now
        )
    export = _sum_by_key(per_meter, meters, Resource.ELECTRICITY_EXPORT)
    pv = _sum_by_key(per_meter, meters, Resource.PV)
    keys = sorted(set(imported) | set(export) | set(pv))
    pv_self = [(k, max(ZERO, pv.get(k, ZERO) - export.get(k, ZERO))) for k in keys if k in pv]
    consumption_kwh = [
        (k, imported.get(k, ZERO) + pv.get(k, ZERO) - export.get(k, ZERO)) for k in keys
    ]
    predicted, name, note = _predicted(site, per_meter, baseline_model, today.start, fine_from)
    buckets = BucketSeries(
        import_kwh=sorted(imported.items()),
        pv_self_consumed_kwh=pv_self,
        consumption_kwh=consumption_kwh,
        gas_m3=sorted(_sum_by_key(per_meter, meters, Resource.GAS).items()),
        water_m3=sorted(_sum_by_key(per_meter, meters, Resource.WATER).items()),
        water_reuse_m3=sorted(_sum_by_key(per_meter, meters, Resource.WATER_REUSE).items()),
        baseline_predicted_kwh=predicted,
    )
    offsets = tuple(store.offsets(session, site.id))
    return SiteSeries(start, end, per_meter, buckets, coverage, relevant, offsets, name, note)


def demo_baselines(plant: Plant) -> dict[str, BaselineModel]:
    """The packaged demo plant's regression baseline (its energy file), by site id."""
    out: dict[str, BaselineModel] = {}
    for site in plant.sites:
        try:
            energy = load_energy_file(demo_energy_path(), zone=site.zone)
        except EnergyFileError:
            continue
        model = energy.baseline.fit() if energy.baseline is not None else None
        if model is not None and energy.site_id == site.id:
            out[site.id] = model
    return out


def _predicted(
    site: Site,
    per_meter: Mapping[str, Series],
    model: BaselineModel | None,
    today: datetime,
    fine_from: datetime,
) -> tuple[Series | None, str, str | None]:
    """Baseline-predicted kWh per bucket or day, its name, and why there is none."""
    if site.baseline is None:
        return None, "the baseline", "no baseline configured"
    production = per_meter.get(site.baseline.production_meter, [])
    if model is not None:
        out: list[tuple[datetime, Decimal]] = []
        for key, units in production:
            if key >= fine_from:
                hours = 0.25
            else:  # a day row is a local day: 23, 24 or 25 hours
                start, end = day_bounds(local_date(key, site.zone), site.zone)
                hours = (end - start).total_seconds() / 3600
            expected = adjusted_baseline(model, production_units=float(units), hours=hours)
            if not expected.valid or expected.expected_kwh is None:
                return None, model.model_id, expected.explanation
            out.append((key, queries.exact(expected.expected_kwh)))
        return out, f"the {model.model_id} regression", None
    per_unit = queries.exact(site.baseline.kwh_per_unit)
    name = f"the {site.baseline.period} baseline"
    return [(k, per_unit * q) for k, q in production], name, None


def figures_for(
    data: SiteSeries, period: Period, site: Site, factors: Sequence[EmissionFactor]
) -> PeriodCarbon:
    """``period_carbon`` of one site-local period."""
    return period_carbon(
        period,
        data.buckets,
        factors,
        regions=site.regions(),
        zone=site.zone,
        coverage=data.coverage,
        offsets=data.offsets,
        baseline=data.baseline_name,
    )


def area_tree(site: Site) -> tuple[Area, ...]:
    """The plant's areas for allocation: own consumption meters (each once) and feeders."""
    feeders = {area.feeder for area, _ in site.walk_areas() if area.feeder}
    return tuple(
        Area(
            id=area.id,
            meters=tuple(
                m.id
                for m in site.meters
                if m.area == area.id and m.resource is Resource.ELECTRICITY and m.id not in feeders
            ),
            parent=parent,
            feeder=area.feeder,
        )
        for area, parent in site.walk_areas()
    )


def in_period(series: Series, period: Period) -> Decimal:
    """The quantity of a time-ordered series in the period (keys are bucket or day starts)."""
    first = bisect.bisect_left(series, period.start, key=_key)
    last = bisect.bisect_left(series, period.end, lo=first, key=_key)
    return sum((q for _, q in series[first:last]), ZERO)


def _key(item: tuple[datetime, Decimal]) -> datetime:
    return item[0]


def allocation_for(
    data: SiteSeries, period: Period, site: Site, carbon: PeriodCarbon
) -> Allocation:
    """The period's scope 2 and certificate cover, by area (they add up to the site)."""
    areas = area_tree(site)
    listed = {m for a in areas for m in a.meters} | {a.feeder for a in areas if a.feeder}
    return scope2_by_area(
        carbon,
        site_consumption_kwh=in_period(data.buckets.consumption_kwh, period),
        areas=areas,
        meter_kwh={m: in_period(data.per_meter.get(m, []), period) for m in listed},
    )
