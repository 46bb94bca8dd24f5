"""History of a site, area or meter at any zoom: energy per resource, CO₂ and cost.

Where each zoom is read from:

* ``minute`` — raw readings, spread over minutes;
* ``15min`` — the fine rollups when they are 15-minute buckets, raw readings otherwise;
* ``hour`` — the fine rollups;
* ``day``, ``week``, ``month``, ``year`` — the site-local day rollups, summed over local
  weeks (Monday first), months and years. Cost at these zooms prices the fine rollups,
  since a day holds several ToU periods.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from app.domain.factors import EmissionFactor
from app.domain.plant import Meter, Resource, Site
from app.domain.tariffs import PriceSchedule, round_money
from app.history import queries
from app.history.buckets import readings_to_buckets
from app.history.valuation import CostColumn, Row, co2_columns, cost_column, merge_uses
from app.history.zoom import FIXED_WIDTH, Zoom, buckets_between, next_bucket

# the quantity each resource accumulates to
UNITS = {
    "electricity_import": "kWh",
    "electricity_export": "kWh",
    "pv": "kWh",
    "electricity": "kWh",
    "gas": "m3",
    "water": "m3",
    "water_reuse": "m3",
    "production": "unit",
}


@dataclass(frozen=True)
class HistoryScope:
    """A site, an area (with its sub-areas) or one meter."""

    site: Site
    area_id: str | None
    meter_id: str | None
    meters: tuple[Meter, ...]

    def carbon_resource(self, resource: str) -> str | None:
        """What a resource's quantity is valued as: electricity use, gas, or nothing.

        Electricity use is grid import where the scope has import meters (a site), the
        area feeders otherwise (an area, a feeder meter).
        """
        has_import = any(m.resource is Resource.ELECTRICITY_IMPORT for m in self.meters)
        if resource == Resource.GAS.value:
            return "gas"
        if resource == Resource.ELECTRICITY_IMPORT.value:
            return "electricity"
        if resource == Resource.ELECTRICITY.value and not has_import:
            return "electricity"
        return None

    def priced_resource(self, resource: str) -> str | None:
        """What a resource's quantity is priced as (water too)."""
        if resource == Resource.WATER.value:
            return "water"
        return self.carbon_resource(resource)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else str(round_money(amount))


class HistoryService:
    """Builds history tables; stateless apart from the factors it values CO₂ with."""

    def __init__(self, factors: Sequence[EmissionFactor]) -> None:
        self.factors = tuple(factors)

    def table(
        self,
        session: Session,
        scope: HistoryScope,
        zoom: Zoom,
        start: datetime,
        end: datetime,
        schedules: Sequence[PriceSchedule],
        *,
        with_cost: bool = True,
    ) -> dict[str, Any]:
        """One table: a row per ``zoom`` bucket of ``[start, end)`` and the totals.

        ``with_cost=False`` leaves cost out (null): at day zooms and above, energy and CO₂
        come from the day rollups alone, while cost has to price every fine bucket.
        """
        zone = scope.site.zone
        out_starts = list(buckets_between(zoom, start, end, zone))
        energy_rows, source, price_rows = self._energy_rows(session, scope, zoom, start, end)
        carbon_rows = _relabel(energy_rows, scope.carbon_resource)
        width = FIXED_WIDTH.get(zoom) if source == "readings" else _fine_width()
        co2 = co2_columns(carbon_rows, out_starts, self.factors, scope.site.regions())
        if not with_cost:
            cost = CostColumn([None] * len(out_starts), [{} for _ in out_starts], error="left out")
        elif price_rows is None:
            cost = self._coarse_cost(session, scope, zoom, start, end, out_starts, schedules)
        else:
            cost = cost_column(price_rows, out_starts, width or _fine_width(), schedules, zone)

        energy: list[dict[str, float]] = [{} for _ in out_starts]
        for resource, bucket, quantity in energy_rows:
            i = bisect.bisect_right(out_starts, bucket) - 1
            if i >= 0:
                energy[i][resource] = energy[i].get(resource, 0.0) + quantity
        present = sorted({m.resource.value for m in scope.meters})
        buckets = []
        for i, b in enumerate(out_starts):
            kg_loc, kg_mkt = co2["location"].kg[i], co2["market"].kg[i]
            buckets.append(
                {
                    "start": _iso(b),
                    "end": _iso(next_bucket(zoom, b, zone)),
                    "energy": {r: energy[i].get(r, 0.0) for r in present},
                    "co2_location_kg": None if kg_loc is None else float(kg_loc),
                    "co2_market_kg": None if kg_mkt is None else float(kg_mkt),
                    "cost": _money(cost.total[i]),
                    "cost_by_resource": {r: _money(v) for r, v in cost.by_resource[i].items()},
                }
            )
        totals_kg = {which: _sum_or_none(col.kg) for which, col in co2.items()}
        cost_total = _sum_or_none(cost.total)
        return {
            "source": source,
            "start": _iso(out_starts[0]) if out_starts else _iso(start),
            "end": _iso(next_bucket(zoom, out_starts[-1], zone)) if out_starts else _iso(end),
            "buckets": buckets,
            "totals": {
                "energy": {r: sum(cell.get(r, 0.0) for cell in energy) for r in present},
                "co2_location_kg": _float(totals_kg["location"]),
                "co2_market_kg": _float(totals_kg["market"]),
                "cost": _money(cost_total),
                "cost_exact": None if cost_total is None else str(cost_total),
            },
            "factors": {
                "co2_location_kg": merge_uses(co2["location"].uses),
                "co2_market_kg": merge_uses(co2["market"].uses),
            },
            "factor_ids": {
                "co2_location_kg": co2["location"].factor_ids,
                "co2_market_kg": co2["market"].factor_ids,
            },
            "cost_info": {
                "currency": cost.currency,
                "schedule_ids": cost.schedule_ids,
                "illustrative": cost.illustrative,
                "unavailable": cost.error,
            },
            "co2_unavailable": co2["location"].error or co2["market"].error,
        }

    def _energy_rows(
        self, session: Session, scope: HistoryScope, zoom: Zoom, start: datetime, end: datetime
    ) -> tuple[list[Row], str, list[Row] | None]:
        """(energy rows per resource, source name, fine rows per priced resource)."""
        ids = {m.id: m.resource.value for m in scope.meters}
        fine_is_15 = queries.FINE_RESOLUTION == "15min"
        if zoom == "minute" or (zoom == "15min" and not fine_is_15):
            expected = {m.id: m.expected_interval_s for m in scope.meters}
            back = queries.lookback(max(expected.values(), default=60))
            readings = queries.readings_between(session, list(ids), start - back, end + back)
            rows = readings_to_buckets(readings, ids, expected, FIXED_WIDTH[zoom], start, end)
            return rows, "readings", _relabel(rows, scope.priced_resource)
        if zoom in ("15min", "hour"):
            fine = queries.rollup_sums(session, ids, queries.FINE_RESOLUTION, start, end)
            return fine, f"rollups:{queries.FINE_RESOLUTION}", _relabel(fine, scope.priced_resource)
        day = queries.rollup_sums(session, ids, queries.DAY_RESOLUTION, start, end)
        return day, f"rollups:{queries.DAY_RESOLUTION}", None

    def _coarse_cost(
        self,
        session: Session,
        scope: HistoryScope,
        zoom: Zoom,
        start: datetime,
        end: datetime,
        out_starts: list[datetime],
        schedules: Sequence[PriceSchedule],
    ) -> CostColumn:
        """Cost per local day, week, month or year: each fine rollup bucket priced."""
        priced = {m.id: p for m in scope.meters if (p := scope.priced_resource(m.resource.value))}
        zone = scope.site.zone
        fine = queries.rollup_sums(session, priced, queries.FINE_RESOLUTION, start, end)
        return cost_column(fine, out_starts, _fine_width(), schedules, zone)


def _sum_or_none(values: Sequence[Decimal | None]) -> Decimal | None:
    total = Decimal(0)
    for value in values:
        if value is None:
            return None
        total += value
    return total


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _fine_width() -> timedelta:
    return timedelta(minutes=15) if queries.FINE_RESOLUTION == "15min" else timedelta(hours=1)


def _relabel(rows: Sequence[Row], label: Callable[[str], str | None]) -> list[Row]:
    """Resource rows → rows of what they are valued or priced as (others dropped)."""
    out: list[Row] = []
    for resource, bucket, quantity in rows:
        as_what = label(resource)
        if as_what is not None:
            out.append((as_what, bucket, quantity))
    return out
