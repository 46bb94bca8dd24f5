"""Live figures for a site or an area: energy, power, CO₂ and levers, read from the rollups.

Every period is the site's local hour, day, month or year (``local_periods``), summed
over 15-minute buckets; CO₂ is valued by time of use (``app.figures.carbon``).

Everything here is computed from the database (rollups and meter state), never from one
process's memory, so two ingesters and two API processes always show the same figures.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.alerts.schemas import alert_json
from app.alerts.store import unresolved
from app.db.models import MeterStateRow
from app.domain.carbon import EnergyTotals
from app.domain.enpi_model import BaselineModel
from app.domain.factors import EmissionFactor, FactorNotFound
from app.domain.period_carbon import PeriodCarbon
from app.domain.periods import Period, hour_bounds, local_periods
from app.domain.plant import Meter, Plant, Resource, Site
from app.domain.time_of_use import Valuation, empty_valuation, value_by_time_of_use
from app.figures import carbon, queries, schemas
from app.figures.schemas import iso

# a value is stale when its meter has been silent for this many expected intervals
STALE_INTERVALS = 3
HISTORY_HOURS = 24
MAX_ALERTS_SHOWN = 20

# how resources appear in the figures (flow names, canonical units)
POWER_FLOWS: dict[Resource, tuple[str, str]] = {
    Resource.ELECTRICITY_IMPORT: ("grid_import", "kW"),
    Resource.ELECTRICITY_EXPORT: ("grid_export", "kW"),
    Resource.PV: ("pv", "kW"),
    Resource.ELECTRICITY: ("feeders", "kW"),
    Resource.GAS: ("gas", "m3/h"),
    Resource.WATER: ("water", "m3/h"),
    Resource.WATER_REUSE: ("water_reuse", "m3/h"),
    Resource.PRODUCTION: ("production", "unit/h"),
}


@dataclass(frozen=True)
class Scope:
    """What a snapshot covers: a whole site, or one area (with its sub-areas)."""

    site: Site
    area_id: str | None
    meters: tuple[Meter, ...]

    @property
    def key(self) -> str:
        return f"{self.site.id}/{self.area_id}" if self.area_id else self.site.id


def scope_for(plant: Plant, site_id: str, area_id: str | None = None) -> Scope:
    """The meters of a site, or of an area and everything nested in it.

    Raises:
        KeyError: unknown site or area.
    """
    site = plant.site(site_id)
    if area_id is None:
        return Scope(site, None, site.meters)
    children: dict[str | None, list[str]] = defaultdict(list)
    known = set()
    for area, parent in site.walk_areas():
        children[parent].append(area.id)
        known.add(area.id)
    if area_id not in known:
        raise KeyError(area_id)
    wanted, stack = set(), [area_id]
    while stack:
        current = stack.pop()
        wanted.add(current)
        stack.extend(children[current])
    return Scope(site, area_id, tuple(m for m in site.meters if m.area in wanted))


class FigureService:
    """Builds snapshots; one instance per API process, shared by all its clients."""

    def __init__(
        self,
        plant: Plant,
        factors: tuple[EmissionFactor, ...],
        baselines: Mapping[str, BaselineModel] | None = None,
    ) -> None:
        self.plant = plant
        self.factors = factors
        self.baselines: dict[str, BaselineModel] = dict(baselines or {})
        """Regression baseline per site id (the efficiency lever); else the plant file's."""

    def snapshot(self, session: Session, scope: Scope, now: datetime) -> dict[str, Any]:
        """The full picture the wall screen shows, as JSON-ready data."""
        site = scope.site
        periods = local_periods(now, site.zone)
        meter_ids = [m.id for m in scope.meters]
        states = queries.meter_states(session, meter_ids)
        power = _power(scope.meters, states, now)
        year = periods["year"]
        data = carbon.load(
            session, site, self.factors, year.start, year.end, now, self.baselines.get(site.id)
        )
        figures = {
            name: self._period(session, scope, period, data) for name, period in periods.items()
        }
        alerts = unresolved(session, site.id, limit=MAX_ALERTS_SHOWN)
        newest = max((s.last_time for s in states.values()), default=None)
        return {
            "type": "snapshot",
            "site": {"id": site.id, "name": site.name, "timezone": site.timezone},
            "area": scope.area_id,
            "generated_at": iso(now),
            "power": power,
            "pv_share_now": _pv_share(power),
            "periods": figures,
            "history": _history(session, scope, now),
            "alerts": [alert_json(a) for a in alerts if scope.area_id in (None, a.area_id)],
            "freshness": {
                "newest_reading_at": iso(newest) if newest else None,
                "age_s": round((now - newest).total_seconds(), 1) if newest else None,
                "silent_meters": sorted(
                    m for m, p in _staleness(scope.meters, states, now).items() if p
                ),
            },
        }

    def period_carbon(
        self, session: Session, site: Site, period: Period, now: datetime
    ) -> tuple[PeriodCarbon, carbon.SiteSeries]:
        """The site's figures for any site-local period (e.g. a neutrality claim's dates)."""
        data = carbon.load(
            session, site, self.factors, period.start, period.end, now, self.baselines.get(site.id)
        )
        return carbon.figures_for(data, period, site, self.factors), data

    def area_inventory(
        self, data: carbon.SiteSeries, figures: PeriodCarbon, period: Period, scope: Scope
    ) -> dict[str, Any]:
        """An area's share of the period's figures (scope 2 allocated, its own scope 1)."""
        assert scope.area_id is not None
        site = scope.site
        allocation = carbon.allocation_for(data, period, site, figures)
        gas = _value(scope.meters, data, period, site, self.factors, Resource.GAS, "fuel")
        water = _value(scope.meters, data, period, site, self.factors, Resource.WATER, "supply")
        return schemas.area_carbon_json(allocation, scope.area_id, gas, water, figures)

    def _period(
        self, session: Session, scope: Scope, period: Period, data: carbon.SiteSeries
    ) -> dict[str, Any]:
        site = scope.site
        whole_site = scope.area_id is None
        by_meter = {
            m.id: float(carbon.in_period(data.per_meter.get(m.id, []), period))
            for m in scope.meters
        }
        totals = _energy_totals(scope.meters, by_meter)
        if site.baseline is not None and whole_site:
            production = by_meter.get(site.baseline.production_meter, 0.0)
            totals = replace(totals, production_units=production)
        figures = carbon.figures_for(data, period, site, self.factors)
        if whole_site:
            co2 = schemas.carbon_json(
                figures,
                self._factor_details(figures),
                coverage=data.coverage,
                not_assessed_note=data.baseline_note,
            )
            allocation = carbon.allocation_for(data, period, site, figures)
            co2["areas"] = schemas.allocation_json(allocation)
        else:
            co2 = self.area_inventory(data, figures, period, scope)
        return {
            "start": iso(period.start),
            "end": iso(period.end),
            "energy": schemas.energy_json(totals, scope.meters, whole_site, by_meter),
            "co2": co2,
            "pv_share": _ratio(totals.pv_self_consumed_kwh, totals.site_consumption_kwh),
            "estimated_samples": queries.estimated_samples(
                session, [m.id for m in scope.meters], period.start, period.end
            ),
        }

    def _factor_details(self, figures: PeriodCarbon) -> dict[str, dict[str, Any]]:
        """Value, unit, gas basis (CO2 or CO2e), source and status of each factor used."""
        used = {fid for ids in figures.factor_ids.values() for fid in ids}
        return {
            f.id: {
                "value": f.value,
                "unit": f.unit,
                "gas_basis": f.gas_basis,
                "status": f.status,
                "source": f.source,
                "data_year": f.data_year,
            }
            for f in self.factors
            if f.id in used
        }


_RESOURCE_NAME = {Resource.GAS: "gas", Resource.WATER: "water"}


def _value(
    meters: Iterable[Meter],
    data: carbon.SiteSeries,
    period: Period,
    site: Site,
    factors: Iterable[EmissionFactor],
    resource: Resource,
    method: str,
) -> Valuation:
    """An area's own gas or water, valued by time of use."""
    name = _RESOURCE_NAME[resource]
    quantities = [
        (k, q)
        for m in meters
        if m.resource is resource
        for k, q in data.per_meter.get(m.id, ())
        if period.start <= k < period.end
    ]
    try:
        return value_by_time_of_use(
            quantities, factors, regions=site.regions(), resource=name, method=method
        )
    except FactorNotFound:
        return empty_valuation(name, method)


def _energy_totals(meters: Iterable[Meter], by_meter: Mapping[str, float]) -> EnergyTotals:
    sums: dict[Resource, float] = defaultdict(float)
    for meter in meters:
        sums[meter.resource] += by_meter.get(meter.id, 0.0)
    return EnergyTotals(
        electricity_import_kwh=sums[Resource.ELECTRICITY_IMPORT],
        electricity_export_kwh=sums[Resource.ELECTRICITY_EXPORT],
        pv_generated_kwh=sums[Resource.PV],
        gas_m3=sums[Resource.GAS],
        water_m3=sums[Resource.WATER],
        water_reuse_m3=sums[Resource.WATER_REUSE],
        production_units=0.0,
    )


def _staleness(
    meters: Iterable[Meter], states: Mapping[str, MeterStateRow], now: datetime
) -> dict[str, bool]:
    stale = {}
    for meter in meters:
        state = states.get(meter.id)
        limit = timedelta(seconds=meter.expected_interval_s * STALE_INTERVALS)
        stale[meter.id] = state is None or now - state.last_time > limit
    return stale


def _power(
    meters: Iterable[Meter], states: Mapping[str, MeterStateRow], now: datetime
) -> dict[str, dict[str, Any]]:
    """Live rate per flow: the sum of each meter's rate over its last interval."""
    meters = list(meters)
    stale = _staleness(meters, states, now)
    flows: dict[str, dict[str, Any]] = {}
    for meter in meters:
        name, unit = POWER_FLOWS[meter.resource]
        flow = flows.setdefault(
            name,
            {"value": 0.0, "unit": unit, "as_of": None, "stale": False, "meters": 0, "silent": []}
            | {"last_value": 0.0},
        )
        state = states.get(meter.id)
        flow["meters"] += 1
        if state is not None and state.last_rate_per_h is not None:
            # what the meters said last, silent or not: a stale tile shows it, dimmed
            flow["last_value"] += state.last_rate_per_h
        if state is not None and state.last_rate_per_h is not None and not stale[meter.id]:
            flow["value"] += state.last_rate_per_h
        if stale[meter.id]:
            flow["stale"] = True
            flow["silent"].append(meter.id)
        if state is not None:
            as_of = iso(state.last_time)
            flow["as_of"] = max(flow["as_of"] or as_of, as_of)
    if {"grid_import", "pv"} <= flows.keys():
        export = flows.get("grid_export", {}).get("value", 0.0)
        consumption = flows["grid_import"]["value"] + flows["pv"]["value"] - export
        flows["consumption"] = {
            "value": max(0.0, consumption),
            "unit": "kW",
            "as_of": flows["grid_import"]["as_of"],
            "last_value": max(
                0.0,
                flows["grid_import"]["last_value"]
                + flows["pv"]["last_value"]
                - flows.get("grid_export", {}).get("last_value", 0.0),
            ),
            "stale": flows["grid_import"]["stale"] or flows["pv"]["stale"],
            "meters": 0,
            "silent": flows["grid_import"]["silent"] + flows["pv"]["silent"],
        }
    return flows


def _pv_share(power: Mapping[str, Mapping[str, Any]]) -> float | None:
    if "consumption" not in power:
        return None
    export = power.get("grid_export", {}).get("value", 0.0)
    pv_self = max(0.0, power["pv"]["value"] - export)
    return _ratio(pv_self, power["consumption"]["value"])


def _history(session: Session, scope: Scope, now: datetime) -> dict[str, Any]:
    """Average rate per flow for each of the last 24 site-local hours (kWh in an hour = kW)."""
    zone = scope.site.zone
    current = hour_bounds(now, zone)
    hours = [current]
    while len(hours) < HISTORY_HOURS:
        hours.insert(0, hour_bounds(hours[0][0] - timedelta(microseconds=1), zone))
    flow_of = {m.id: POWER_FLOWS[m.resource][0] for m in scope.meters}
    rows = queries.series(session, list(flow_of), hours[0][0], current[1], days=False)
    starts = [h[0] for h in hours]
    series: dict[str, list[float]] = {}
    for meter_id, buckets in rows.items():
        values = series.setdefault(flow_of[meter_id], [0.0] * len(hours))
        for bucket, quantity in buckets:
            i = bisect.bisect_right(starts, bucket) - 1
            if i >= 0:
                values[i] += float(quantity)
    if "grid_import" in series and "pv" in series:
        export = series.get("grid_export", [0.0] * len(hours))
        series["consumption"] = [
            max(0.0, i + p - e)
            for i, p, e in zip(series["grid_import"], series["pv"], export, strict=True)
        ]
    # each hour's kWh over its length (the current one over the time elapsed)
    for values in series.values():
        for i, (start, end) in enumerate(hours):
            length = (min(end, now) - start).total_seconds() / 3600
            values[i] = values[i] / max(length, 1 / 60)
    return {"hours": [iso(h[0]) for h in hours], "average_rate": series}


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole > 0 else None
