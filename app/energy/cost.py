"""Cost of a site's or area's metered buckets: by hour, day or month, by ToU period,
the demand charge per month and what moving load out of peak would save.

Electricity is a site's grid import (what is bought) or an area's feeders (its
share of the bill at the energy price, without demand charge); gas and water are
their meters. The demand charge bills each month's highest bucket mean power.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal, localcontext

from app.domain.energy_cost import (
    EnergyBucket,
    cost_lines,
    demand_cost,
    energy_cost,
    group_costs,
    load_shift_saving,
    max_demand_kw,
)
from app.domain.energy_settings import EnergySettings
from app.domain.periods import local_month
from app.domain.tariffs import EXACT, RESOURCE_UNIT, TouPeriod, resolve_schedule
from app.energy import schemas
from app.energy.series import ScopeSeries

FLOW_OF_RESOURCE = {"gas": "gas", "water": "water"}
DEFAULT_SHIFT_SHARE = Decimal("0.1")


def buckets_of(series: ScopeSeries, resource: str) -> list[EnergyBucket]:
    values = (
        series.electricity()
        if resource == "electricity"
        else series.flows[FLOW_OF_RESOURCE[resource]]
    )
    zone = series.scope.site.zone
    width = timedelta(minutes=series.bucket_minutes)
    return [
        EnergyBucket(b, b + width, b.astimezone(zone), max(0.0, q))
        for b, q in sorted(values.items())
        if series.start <= b < series.end
    ]


def cost_report(
    series: ScopeSeries,
    settings: EnergySettings,
    *,
    resource: str,
    by: str,
    shift_kwh: float | None,
) -> schemas.CostReport:
    """Raises LookupError when no price schedule covers a bucket."""
    buckets = buckets_of(series, resource)
    schedules = [s for s in settings.tariffs if s.resource == resource]
    if not schedules:
        raise LookupError(f"site {settings.site_id!r} has no {resource} tariff")
    lines = cost_lines(schedules, buckets, resource=resource)
    total = energy_cost(schedules, buckets, resource=resource)
    currency = total.currency or schedules[0].currency
    notes = []
    demand: list[schemas.DemandLine] = []
    demand_total = None
    zone = series.scope.site.zone
    if resource == "electricity" and series.whole_site and buckets:
        months: dict[str, list[EnergyBucket]] = {}
        for bucket in buckets:
            year, month = local_month(bucket.start, zone)
            months.setdefault(f"{year:04d}-{month:02d}", []).append(bucket)
        with localcontext(EXACT):
            demand_total = Decimal(0)
            for label, month_buckets in months.items():
                schedule = resolve_schedule(schedules, resource=resource, at=month_buckets[0].start)
                if schedule.demand_charge is None or schedule.demand_charge.basis != "max_demand":
                    continue
                charge = demand_cost(schedule, max_demand_kw=max_demand_kw(month_buckets))
                if charge is None:
                    continue
                demand_total += charge.cost
                demand.append(
                    schemas.DemandLine(
                        month=label,
                        schedule_id=charge.schedule_id,
                        basis=charge.basis,
                        billed_kw=str(charge.billed_kw),
                        price_per_month=str(charge.price_per_month),
                        cost=schemas.Money.of(charge.cost, currency),
                    )
                )
        if demand:
            notes.append(
                f"demand charge on the highest {series.bucket_minutes}-minute mean power of each "
                "month so far; a whole month is billed even when the period covers part of it"
            )
    shift = None
    peak = total.quantity_by_period.get(TouPeriod.PEAK, Decimal(0))
    if resource == "electricity" and buckets and peak > 0:
        schedule = resolve_schedule(schedules, resource=resource, at=buckets[0].start)
        if TouPeriod.PEAK in schedule.prices and TouPeriod.VALLEY in schedule.prices:
            wanted = (
                Decimal(repr(shift_kwh)) if shift_kwh is not None else peak * DEFAULT_SHIFT_SHARE
            )
            moved = load_shift_saving(schedule, wanted, available_kwh=peak)
            shift = schemas.LoadShift(
                schedule_id=moved.schedule_id,
                from_period=moved.from_period.value,
                to_period=moved.to_period.value,
                kwh_requested=float(moved.kwh_requested),
                kwh_moved=float(moved.kwh_moved),
                from_price=str(moved.from_price),
                to_price=str(moved.to_price),
                saving=schemas.Money.of(moved.saving, currency),
                explanation=moved.explanation,
            )
            if shift_kwh is None:
                notes.append("load shift: 10 % of the peak kWh moved to valley (give shift_kwh)")
    with localcontext(EXACT):
        grand = total.cost + (demand_total or Decimal(0))
    average = total.average_price
    return schemas.CostReport(
        site_id=series.scope.site.id,
        area_id=series.scope.area_id,
        resource=resource,
        unit=RESOURCE_UNIT[resource],
        start=series.start,
        end=series.end,
        by=by,
        quantity=float(total.quantity),
        energy_cost=schemas.Money.of(total.cost, currency),
        demand_cost=None if demand_total is None else schemas.Money.of(demand_total, currency),
        total=schemas.Money.of(grand, currency),
        average_price=None if average is None else str(round(average, 6)),
        groups=[
            schemas.CostGroup(label=label, cost=schemas.Money.of(amount, currency))
            for label, amount in sorted(group_costs(lines, by).items())  # type: ignore[arg-type]
        ],
        by_tou_period=[
            schemas.TouLine(
                period=period.value,
                quantity=float(total.quantity_by_period[period]),
                unit_price=str(_price(lines, period)),
                cost=schemas.Money.of(total.cost_by_period[period], currency),
            )
            for period in TouPeriod
            if period in total.quantity_by_period
        ],
        demand=demand,
        load_shift=shift,
        ids={"tariffs": list(total.schedule_ids or (s.id for s in schedules[:1]))},
        illustrative=total.illustrative or any(s.illustrative for s in schedules),
        notes=notes,
    )


def average_price(series: ScopeSeries, settings: EnergySettings) -> tuple[Decimal, str, str] | None:
    """Average electricity price over the series (per kWh, currency, schedule ids)."""
    schedules = [s for s in settings.tariffs if s.resource == "electricity"]
    buckets = buckets_of(series, "electricity")
    if not schedules or not buckets:
        return None
    try:
        total = energy_cost(schedules, buckets, resource="electricity")
    except (LookupError, ValueError):
        return None
    price = total.average_price
    if price is None or total.currency is None:
        return None
    return price, total.currency, ",".join(total.schedule_ids)


def _price(lines: list, period: TouPeriod) -> Decimal:  # type: ignore[type-arg]
    prices = {line.unit_price for line in lines if line.period is period}
    return max(prices) if prices else Decimal(0)
