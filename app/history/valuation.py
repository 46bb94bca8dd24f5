"""CO₂ (location and market) and cost of history buckets.

CO₂ uses ``app.domain.time_of_use.value_by_time_of_use``: each source bucket is valued
with the factor valid at its start, so a range across two factor vintages carries both
ids. Cost prices each fine bucket under the schedule and ToU period of its local start
(``app.domain.tariffs``, as ``app.domain.energy_cost`` does) in exact ``Decimal``; the cost
of a union of buckets is the sum of their costs.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, localcontext
from zoneinfo import ZoneInfo

from app.domain.factors import EmissionFactor, FactorNotFound
from app.domain.tariffs import EXACT, PriceSchedule, TouPeriod, as_decimal, resolve_schedule
from app.domain.time_of_use import FactorUse, Valuation, value_by_time_of_use

# carbon resource → (location method, market method)
CO2_METHODS = {"electricity": ("location", "market_residual"), "gas": ("fuel", "fuel")}
Row = tuple[str, datetime, float]  # (priced/valued resource, source bucket start, quantity)


@dataclass
class Co2Column:
    """kg per output bucket for one method, and the factor uses over the whole range."""

    kg: list[Decimal | None]
    uses: list[FactorUse] = field(default_factory=list)
    error: str | None = None

    @property
    def factor_ids(self) -> list[str]:
        return list(dict.fromkeys(u.factor_id for u in self.uses))


def co2_columns(
    rows: Sequence[Row],
    out_starts: Sequence[datetime],
    factors: Sequence[EmissionFactor],
    regions: Sequence[str],
) -> dict[str, Co2Column]:
    """``{"location": …, "market": …}`` for ``rows`` of resource ``electricity`` or ``gas``."""
    per_bucket: list[dict[str, list[tuple[datetime, Decimal]]]] = [{} for _ in out_starts]
    for resource, bucket, quantity in rows:
        if resource not in CO2_METHODS or quantity <= 0:
            continue
        i = bisect.bisect_right(out_starts, bucket) - 1
        if i >= 0:
            per_bucket[i].setdefault(resource, []).append((bucket, as_decimal(quantity)))
    result: dict[str, Co2Column] = {}
    for which, index in (("location", 0), ("market", 1)):
        column = Co2Column(kg=[])
        try:
            for groups in per_bucket:
                kg = Decimal(0)
                for resource, pairs in groups.items():
                    valuation = _value(pairs, factors, regions, resource, index)
                    kg += valuation.kg
                    column.uses.extend(valuation.uses)
                column.kg.append(kg)
        except FactorNotFound as exc:
            column = Co2Column(kg=[None] * len(out_starts), error=str(exc))
        result[which] = column
    return result


def _value(
    pairs: Iterable[tuple[datetime, Decimal]],
    factors: Sequence[EmissionFactor],
    regions: Sequence[str],
    resource: str,
    index: int,
) -> Valuation:
    return value_by_time_of_use(
        pairs, factors, regions=regions, resource=resource, method=CO2_METHODS[resource][index]
    )


def merge_uses(uses: Iterable[FactorUse]) -> list[dict[str, object]]:
    """Factor uses summed per factor id: what each factor covered over the range."""
    merged: dict[str, dict[str, object]] = {}
    with localcontext(EXACT):
        for use in uses:
            entry = merged.setdefault(
                use.factor_id,
                {
                    "factor_id": use.factor_id,
                    "unit": use.unit,
                    "kg_per_unit": str(use.kg_per_unit),
                    "quantity": Decimal(0),
                    "kg": Decimal(0),
                    "fallback_from": use.fallback_from,
                },
            )
            entry["quantity"] = entry["quantity"] + use.quantity  # type: ignore[operator]
            entry["kg"] = entry["kg"] + use.kg  # type: ignore[operator]
    return [
        {**e, "quantity": float(e["quantity"]), "kg": float(e["kg"])}  # type: ignore[arg-type]
        for e in merged.values()
    ]


@dataclass
class CostColumn:
    """Exact cost per output bucket (all priced resources), and per resource."""

    total: list[Decimal | None]
    by_resource: list[dict[str, Decimal]]
    currency: str | None = None
    schedule_ids: list[str] = field(default_factory=list)
    illustrative: bool = False
    error: str | None = None


def cost_column(
    rows: Sequence[Row],
    out_starts: Sequence[datetime],
    width: timedelta,
    schedules: Sequence[PriceSchedule],
    zone: ZoneInfo,
) -> CostColumn:
    """Price ``rows`` (fine buckets of ``width``) under ``schedules``."""
    n = len(out_starts)
    if not schedules:
        return CostColumn([None] * n, [{} for _ in out_starts], error="no price schedules")
    minutes = int(width.total_seconds() // 60)
    # per (resource, local date): the schedule, the bands of the day, whether buckets fit
    day_cache: dict[tuple[str, date], tuple[PriceSchedule, int, bool]] = {}
    period_cache: dict[tuple[str, int, int, int], TouPeriod] = {}
    quantities: dict[tuple[int, str, str, TouPeriod], Decimal] = {}
    used: dict[str, PriceSchedule] = {}
    try:
        with localcontext(EXACT):
            for resource, bucket, quantity in rows:
                if quantity == 0:
                    continue
                i = bisect.bisect_right(out_starts, bucket) - 1
                if i < 0:
                    continue
                local = bucket.astimezone(zone)
                key = (resource, local.date())
                cached = day_cache.get(key)
                if cached is None:
                    schedule = resolve_schedule(schedules, resource=resource, at=bucket)
                    edges = schedule.boundaries_on(local.date())
                    cached = (
                        schedule,
                        id(schedule.bands_on(local.date())),
                        all(e % minutes == 0 for e in edges),
                    )
                    day_cache[key] = cached
                    used[schedule.id] = schedule
                schedule, bands, aligned = cached
                first = local.hour * 60 + local.minute
                if not aligned and any(
                    first < e < first + minutes for e in schedule.boundaries_on(local.date())
                ):
                    raise ValueError(
                        f"a {minutes}-minute bucket at {local.isoformat()} straddles a ToU "
                        f"boundary of {schedule.id}: cost needs finer rollups"
                    )
                slot = (schedule.id, bands, local.month, first)
                period = period_cache.get(slot)
                if period is None:
                    period = schedule.period_at(local)
                    period_cache[slot] = period
                group = (i, resource, schedule.id, period)
                quantities[group] = quantities.get(group, Decimal(0)) + as_decimal(quantity)
            by_resource: list[dict[str, Decimal]] = [{} for _ in out_starts]
            for (i, resource, schedule_id, period), summed in quantities.items():
                cost = EXACT.multiply(summed, used[schedule_id].price(period))
                by_resource[i][resource] = by_resource[i].get(resource, Decimal(0)) + cost
    except (LookupError, ValueError) as exc:
        return CostColumn([None] * n, [{} for _ in out_starts], error=str(exc))
    currencies = sorted({s.currency for s in used.values()})
    if len(currencies) > 1:
        return CostColumn([None] * n, by_resource, error=f"schedules in {currencies}")
    with localcontext(EXACT):
        totals: list[Decimal | None] = [sum(c.values(), Decimal(0)) for c in by_resource]
    return CostColumn(
        totals,
        by_resource,
        currency=currencies[0] if currencies else next(iter(schedules)).currency,
        schedule_ids=list(used),
        illustrative=any(s.illustrative for s in used.values()),
    )
