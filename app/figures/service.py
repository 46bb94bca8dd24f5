"""Live figures for a site or an area: energy, power, CO₂ and levers, read from the rollups.

Everything here is computed from the database (rollups and meter state), never from one
process's memory, so two ingesters and two API processes always show the same figures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.alerts.schemas import alert_json
from app.alerts.store import unresolved
from app.db.models import MeterStateRow
from app.domain.carbon import (
    CarbonFigures,
    EnergyTotals,
    EnpiBaseline,
    allocate_certificates,
    compute_carbon,
    resolve_carbon_factors,
)
from app.domain.factors import EmissionFactor
from app.domain.periods import Period, current_periods, hours_back
from app.domain.plant import Meter, Plant, Resource, Site
from app.figures import queries, schemas
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

    def __init__(self, plant: Plant, factors: tuple[EmissionFactor, ...]) -> None:
        self.plant = plant
        self.factors = factors

    def snapshot(self, session: Session, scope: Scope, now: datetime) -> dict[str, Any]:
        """The full picture the wall screen shows, as JSON-ready data."""
        site = scope.site
        periods = current_periods(now, site.zone)
        meter_ids = [m.id for m in scope.meters]
        states = queries.meter_states(session, meter_ids)
        power = _power(scope.meters, states, now)
        figures = {
            name: self._period(session, scope, period, now) for name, period in periods.items()
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

    def _period(
        self, session: Session, scope: Scope, period: Period, now: datetime
    ) -> dict[str, Any]:
        by_meter, estimated = queries.rollup_sums(session, [m.id for m in scope.meters], period)
        totals = _energy_totals(scope.meters, by_meter)
        site = scope.site
        factors = resolve_carbon_factors(self.factors, regions=site.regions(), at=now)
        whole_site = scope.area_id is None
        certificate_kwh = (
            self._certificates_for(session, scope, period, totals.electricity_import_kwh)
            if whole_site
            else 0.0
        )
        offsets_kg = queries.offsets_kg(session, site.id, period) if whole_site else 0.0
        baseline = (
            EnpiBaseline(site.baseline.kwh_per_unit, site.baseline.period)
            if whole_site and site.baseline
            else None
        )
        if site.baseline is not None and whole_site:
            production = by_meter.get(site.baseline.production_meter, 0.0)
            totals = replace(totals, production_units=production)
        carbon = compute_carbon(
            totals,
            factors,
            certificate_kwh=certificate_kwh,
            offsets_retired_kg=offsets_kg,
            baseline=baseline,
        )
        return {
            "start": iso(period.start),
            "end": iso(period.end),
            "energy": schemas.energy_json(totals, scope.meters, whole_site, by_meter),
            "co2": schemas.carbon_json(carbon, whole_site, self._factor_details(carbon)),
            "pv_share": _ratio(totals.pv_self_consumed_kwh, totals.site_consumption_kwh),
            "estimated_samples": estimated,
        }

    def _factor_details(self, carbon: CarbonFigures) -> dict[str, dict[str, Any]]:
        """Value, unit, gas basis (CO2 or CO2e), source and status of each factor used."""
        used = {fid for ids in carbon.factor_ids.values() for fid in ids}
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

    def _certificates_for(
        self, session: Session, scope: Scope, period: Period, import_kwh: float
    ) -> float:
        """Certificate kWh covering this period's grid import.

        Each certificate covers the import of its own period in time order until used up
        (``allocate_certificates``); this period gets what falls in its overlap.
        """
        zone = scope.site.zone
        first_day = period.start.astimezone(zone).date()
        last_day = (period.end - timedelta(microseconds=1)).astimezone(zone).date()
        certs = queries.certificates(session, scope.site.id, first_day, last_day)
        meters = [m.id for m in scope.meters if m.resource is Resource.ELECTRICITY_IMPORT]
        covered = 0.0
        for cert in certs:
            cert_start = _local_instant(cert.period_start, scope)
            cert_end = _local_instant(cert.period_end, scope)
            overlap_start, overlap_end = max(cert_start, period.start), min(cert_end, period.end)
            before = queries.sum_hours(session, meters, cert_start, overlap_start)
            during = queries.sum_hours(session, meters, overlap_start, overlap_end)
            covered += allocate_certificates(cert.mwh * 1000, before, during)
        return min(covered, import_kwh)


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
    """Average rate per flow for each of the last 24 hours (kWh in an hour = average kW)."""
    hours = hours_back(now, HISTORY_HOURS)
    flow_of = {m.id: POWER_FLOWS[m.resource][0] for m in scope.meters}
    rows = queries.hourly_quantities(session, list(flow_of), hours[0])
    index = {h: i for i, h in enumerate(hours)}
    series: dict[str, list[float]] = {}
    for meter_id, bucket, quantity in rows:
        i = index.get(bucket)
        if i is None:
            continue
        values = series.setdefault(flow_of[meter_id], [0.0] * len(hours))
        values[i] += quantity
    if "grid_import" in series and "pv" in series:
        export = series.get("grid_export", [0.0] * len(hours))
        series["consumption"] = [
            max(0.0, i + p - e)
            for i, p, e in zip(series["grid_import"], series["pv"], export, strict=True)
        ]
    # the current hour is still filling: scale to an average rate over the time elapsed
    elapsed_h = max((now - hours[-1]).total_seconds() / 3600, 1 / 60)
    for values in series.values():
        values[-1] = values[-1] / elapsed_h
    return {"hours": [iso(h) for h in hours], "average_rate": series}


def _local_instant(day: date, scope: Scope) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=scope.site.zone).astimezone(UTC)


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole > 0 else None
