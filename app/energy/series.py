"""A scope's rollup buckets grouped by what they measure, and the totals of any sub-period.

A site's electricity is its consumption (grid import + PV − export); an area's is
the sum of its feeders. Production is always the site's production meter (the
product the plant makes), so an area's per-unit figures share the site's output.
An area's CO₂ counts its feeders' kWh at the grid factors (scope 2 allocated by
metered use) and its gas (scope 1).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from app.domain.carbon import CarbonFigures, EnergyTotals, compute_carbon, resolve_carbon_factors
from app.domain.energy_performance import SiteEnergyTotals
from app.domain.energy_settings import EnergySettings
from app.domain.factors import EmissionFactor, FactorNotFound
from app.domain.periods import day_bounds, local_date, local_month, month_bounds
from app.domain.plant import Resource
from app.figures.service import Scope

RESOLUTION_MINUTES = {"hour": 60, "15min": 15}
GRANULARITIES = ("hour", "day", "month")

FLOWS = ("import", "export", "pv", "feeders", "gas", "water", "water_reuse", "production")
_FLOW_OF = {
    Resource.ELECTRICITY_IMPORT: "import",
    Resource.ELECTRICITY_EXPORT: "export",
    Resource.PV: "pv",
    Resource.ELECTRICITY: "feeders",
    Resource.GAS: "gas",
    Resource.WATER: "water",
    Resource.WATER_REUSE: "water_reuse",
}


def production_meter(scope: Scope, settings: EnergySettings | None) -> list[str]:
    """The site's production meter (the energy file's baseline driver, else every counter)."""
    if settings is not None and settings.baseline is not None:
        return [settings.baseline.production_meter]
    if scope.site.baseline is not None:
        return [scope.site.baseline.production_meter]
    return [m.id for m in scope.site.meters if m.resource is Resource.PRODUCTION]


def scope_meters(scope: Scope, settings: EnergySettings | None) -> dict[str, str]:
    """meter id → flow, for the scope's meters and the site's production meter."""
    flows = {m.id: _FLOW_OF[m.resource] for m in scope.meters if m.resource in _FLOW_OF}
    if settings is not None and settings.intake_meters:
        for meter_id, flow in list(flows.items()):
            if flow == "water" and meter_id not in settings.intake_meters:
                del flows[meter_id]
            if flow == "water_reuse" and meter_id not in settings.reuse_meters:
                del flows[meter_id]
    for meter_id in production_meter(scope, settings):
        flows[meter_id] = "production"
    return flows


@dataclass
class ScopeSeries:
    """Quantity per flow per bucket start (UTC), for one scope over ``[start, end)``."""

    scope: Scope
    start: datetime
    end: datetime
    bucket_minutes: int
    flows: dict[str, dict[datetime, float]] = field(default_factory=dict)

    @classmethod
    def from_rows(
        cls,
        scope: Scope,
        start: datetime,
        end: datetime,
        rows: Sequence[tuple[str, datetime, float]],
        flow_of: dict[str, str],
        bucket_minutes: int,
    ) -> ScopeSeries:
        flows: dict[str, dict[datetime, float]] = {f: defaultdict(float) for f in FLOWS}
        for meter_id, bucket, quantity in rows:
            flows[flow_of[meter_id]][bucket] += quantity
        return cls(scope, start, end, bucket_minutes, {k: dict(v) for k, v in flows.items()})

    @property
    def whole_site(self) -> bool:
        return self.scope.area_id is None

    def total(self, flow: str, start: datetime, end: datetime) -> float:
        return sum(q for b, q in self.flows[flow].items() if start <= b < end)

    def has_data(self, start: datetime, end: datetime) -> bool:
        return any(start <= b < end for values in self.flows.values() for b in values)

    def electricity(self) -> dict[datetime, float]:
        """Per bucket: a site's grid import (what is bought), an area's feeders."""
        return self.flows["import"] if self.whole_site else self.flows["feeders"]

    def totals(self, start: datetime, end: datetime) -> SiteEnergyTotals:
        def t(flow: str) -> float:
            return self.total(flow, start, end)

        if self.whole_site:
            imported, exported, pv = t("import"), t("export"), t("pv")
            consumption = max(0.0, imported + pv - exported)
            pv_self = max(0.0, pv - exported)
        else:
            consumption = imported = t("feeders")
            exported = pv_self = 0.0
        return SiteEnergyTotals(
            start=start,
            end=end,
            site_consumption_kwh=consumption,
            electricity_import_kwh=imported,
            electricity_export_kwh=exported,
            pv_self_consumed_kwh=pv_self,
            gas_m3=t("gas"),
            water_intake_m3=t("water"),
            water_reused_m3=t("water_reuse"),
            production_units=t("production"),
        )


def carbon_for(
    series: ScopeSeries,
    start: datetime,
    end: datetime,
    factors: Sequence[EmissionFactor],
    *,
    certificate_kwh: float = 0.0,
) -> CarbonFigures | None:
    """The carbon domain's inventory for ``[start, end)`` (None when no grid factor is known)."""
    site = series.scope.site
    try:
        resolved = resolve_carbon_factors(factors, regions=site.regions(), at=start)
    except FactorNotFound:
        return None

    def t(flow: str) -> float:
        return series.total(flow, start, end)

    whole = series.whole_site
    energy = EnergyTotals(
        electricity_import_kwh=t("import") if whole else t("feeders"),
        electricity_export_kwh=t("export") if whole else 0.0,
        pv_generated_kwh=t("pv") if whole else 0.0,
        gas_m3=t("gas"),
        water_m3=t("water"),
        water_reuse_m3=t("water_reuse"),
    )
    return compute_carbon(energy, resolved, certificate_kwh=certificate_kwh)


def split_periods(
    start: datetime, end: datetime, granularity: str, zone: ZoneInfo
) -> Iterator[tuple[datetime, datetime]]:
    """Site-local hours, days or months covering ``[start, end)``, clipped to it.

    Raises:
        ValueError: unknown granularity.
    """
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {', '.join(GRANULARITIES)}")
    cursor = start
    while cursor < end:
        if granularity == "hour":
            nxt = cursor.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        elif granularity == "day":
            nxt = day_bounds(local_date(cursor, zone), zone)[1]
        else:
            nxt = month_bounds(*local_month(cursor, zone), zone)[1]
        nxt = min(nxt, end)
        yield cursor, nxt
        cursor = nxt
