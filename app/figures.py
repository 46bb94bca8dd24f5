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

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.models import AlertRow, GreenCertificateRow, MeterStateRow, OffsetRow, RollupRow
from app.db.rollups import HOUR
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

# a value is stale when its meter has been silent for this many expected intervals
STALE_INTERVALS = 3
HISTORY_HOURS = 24

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
        states = {
            s.meter_id: s
            for s in session.scalars(
                select(MeterStateRow).where(MeterStateRow.meter_id.in_(meter_ids))
            )
        }
        power = _power(scope.meters, states, now)
        figures = {
            name: self._period(session, scope, period, now) for name, period in periods.items()
        }
        alerts = session.scalars(
            select(AlertRow)
            .where(AlertRow.site_id == site.id, AlertRow.status != "resolved")
            .order_by(AlertRow.opened_at.desc())
            .limit(20)
        ).all()
        newest = max((_utc(s.last_time) for s in states.values()), default=None)
        return {
            "type": "snapshot",
            "site": {"id": site.id, "name": site.name, "timezone": site.timezone},
            "area": scope.area_id,
            "generated_at": _iso(now),
            "power": power,
            "pv_share_now": _pv_share(power),
            "periods": figures,
            "history": _history(session, scope, now),
            "alerts": [_alert_json(a) for a in alerts if scope.area_id in (None, a.area_id)],
            "freshness": {
                "newest_reading_at": _iso(newest) if newest else None,
                "age_s": round((now - newest).total_seconds(), 1) if newest else None,
                "silent_meters": sorted(
                    m for m, p in _staleness(scope.meters, states, now).items() if p
                ),
            },
        }

    def _period(
        self, session: Session, scope: Scope, period: Period, now: datetime
    ) -> dict[str, Any]:
        by_meter, estimated = _rollup_sums(session, [m.id for m in scope.meters], period)
        totals = _energy_totals(scope.meters, by_meter)
        site = scope.site
        factors = resolve_carbon_factors(self.factors, regions=site.regions(), at=now)
        whole_site = scope.area_id is None
        certificate_kwh = (
            self._certificates_for(session, scope, period, totals.electricity_import_kwh)
            if whole_site
            else 0.0
        )
        offsets_kg = _offsets_kg(session, site.id, period) if whole_site else 0.0
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
            "start": _iso(period.start),
            "end": _iso(period.end),
            "energy": _energy_json(totals, scope, by_meter),
            "co2": _carbon_json(carbon, whole_site, self._factor_details(carbon)),
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
        certs = session.scalars(
            select(GreenCertificateRow).where(
                GreenCertificateRow.site_id == scope.site.id,
                GreenCertificateRow.period_start <= last_day,
                GreenCertificateRow.period_end > first_day,
            )
        ).all()
        meters = [m.id for m in scope.meters if m.resource is Resource.ELECTRICITY_IMPORT]
        covered = 0.0
        for cert in certs:
            cert_start = _local_instant(cert.period_start, scope)
            cert_end = _local_instant(cert.period_end, scope)
            overlap_start, overlap_end = max(cert_start, period.start), min(cert_end, period.end)
            before = _sum_hours(session, meters, cert_start, overlap_start)
            during = _sum_hours(session, meters, overlap_start, overlap_end)
            covered += allocate_certificates(cert.mwh * 1000, before, during)
        return min(covered, import_kwh)


def _rollup_sums(
    session: Session, meter_ids: list[str], period: Period
) -> tuple[dict[str, float], int]:
    """Quantity per meter over the period, and how many samples in it were estimated."""
    rows = session.execute(
        select(RollupRow.meter_id, func.sum(RollupRow.quantity), func.sum(RollupRow.estimated))
        .where(
            RollupRow.meter_id.in_(meter_ids),
            RollupRow.resolution == period.resolution,
            RollupRow.bucket_start >= period.start,
            RollupRow.bucket_start < period.end,
        )
        .group_by(RollupRow.meter_id)
    ).all()
    sums = {meter_id: float(total or 0.0) for meter_id, total, _ in rows}
    return sums, sum(int(est or 0) for _, _, est in rows)


def _sum_hours(session: Session, meter_ids: list[str], start: datetime, end: datetime) -> float:
    if not meter_ids or end <= start:
        return 0.0
    total = session.scalar(
        select(func.coalesce(func.sum(RollupRow.quantity), 0.0)).where(
            RollupRow.meter_id.in_(meter_ids),
            RollupRow.resolution == HOUR,
            RollupRow.bucket_start >= start,
            RollupRow.bucket_start < end,
        )
    )
    return float(total or 0.0)


def _offsets_kg(session: Session, site_id: str, period: Period) -> float:
    tonnes = session.scalar(
        select(func.coalesce(func.sum(OffsetRow.tonnes_co2e), 0.0)).where(
            OffsetRow.site_id == site_id,
            OffsetRow.retired_on >= period.start.date(),
            OffsetRow.retired_on < period.end.date(),
        )
    )
    return float(tonnes or 0.0) * 1000


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


def _energy_json(
    totals: EnergyTotals, scope: Scope, by_meter: Mapping[str, float]
) -> dict[str, float]:
    feeders = sum(
        by_meter.get(m.id, 0.0) for m in scope.meters if m.resource is Resource.ELECTRICITY
    )
    production = sum(
        by_meter.get(m.id, 0.0) for m in scope.meters if m.resource is Resource.PRODUCTION
    )
    return {
        "grid_import_kwh": totals.electricity_import_kwh,
        "grid_export_kwh": totals.electricity_export_kwh,
        "pv_kwh": totals.pv_generated_kwh,
        "pv_self_consumed_kwh": totals.pv_self_consumed_kwh,
        "consumption_kwh": totals.site_consumption_kwh if scope.area_id is None else feeders,
        "feeders_kwh": feeders,
        "gas_m3": totals.gas_m3,
        "water_m3": totals.water_m3,
        "water_reuse_m3": totals.water_reuse_m3,
        "production_units": totals.production_units or production,
    }


def _carbon_json(
    carbon: CarbonFigures, whole_site: bool, factors: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    return {
        "scope1_gas_kg": carbon.scope1_gas_kg,
        "scope2_location_kg": carbon.scope2_location_kg,
        "scope2_market_kg": carbon.scope2_market_kg,
        "water_kg": carbon.water_kg,
        "inventory_location_kg": carbon.inventory_location_kg,
        "inventory_market_kg": carbon.inventory_market_kg,
        "avoided_pv_kg": carbon.avoided_pv_kg,
        "offsets_retired_kg": carbon.offsets_retired_kg,
        "certificate_covered_kwh": carbon.certificate_covered_kwh,
        "co2_reduced_kg": carbon.co2_reduced_kg if whole_site else None,
        "levers": [
            {
                "name": lever.name,
                "kg": lever.kg,
                "basis": lever.basis_kwh_or_m3,
                "factor_id": lever.factor_id,
                "explanation": lever.explanation,
            }
            for lever in (carbon.levers if whole_site else ())
        ],
        "factor_ids": {k: list(v) for k, v in carbon.factor_ids.items()},
        "factors": factors,
        "notes": list(carbon.notes),
    }


def _staleness(
    meters: Iterable[Meter], states: Mapping[str, MeterStateRow], now: datetime
) -> dict[str, bool]:
    stale = {}
    for meter in meters:
        state = states.get(meter.id)
        limit = timedelta(seconds=meter.expected_interval_s * STALE_INTERVALS)
        stale[meter.id] = state is None or now - _utc(state.last_time) > limit
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
            as_of = _iso(_utc(state.last_time))
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
    rows = session.execute(
        select(RollupRow.meter_id, RollupRow.bucket_start, RollupRow.quantity).where(
            RollupRow.meter_id.in_(list(flow_of)),
            RollupRow.resolution == HOUR,
            RollupRow.bucket_start >= hours[0],
        )
    ).all()
    index = {h: i for i, h in enumerate(hours)}
    series: dict[str, list[float]] = {}
    for meter_id, bucket, quantity in rows:
        i = index.get(_utc(bucket))
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
    return {"hours": [_iso(h) for h in hours], "average_rate": series}


def _alert_json(alert: AlertRow) -> dict[str, Any]:
    return {
        "id": alert.id,
        "kind": alert.kind,
        "severity": alert.severity,
        "status": alert.status,
        "message": alert.message,
        "meter_id": alert.meter_id,
        "area_id": alert.area_id,
        "opened_at": _iso(_utc(alert.opened_at)),
    }


def _local_instant(day: date, scope: Scope) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=scope.site.zone).astimezone(UTC)


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole > 0 else None


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")
