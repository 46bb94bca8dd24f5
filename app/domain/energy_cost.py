"""Cost of metered buckets under price schedules, demand charges, and load shifting.

A bucket is a UTC interval with its local start (the site's wall clock) and the
quantity it holds (kWh, or m³ of gas or water). Each bucket is priced whole at
the ToU period of its local start, so a bucket may not straddle a ToU boundary
(hourly or finer rollups on whole-hour or half-hour bands never do). Costs are
exact ``Decimal`` sums, so the cost of a union of buckets is the sum of their
costs; rounding is for display only (``tariffs.round_money``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Literal

from app.domain.tariffs import EXACT, PriceSchedule, TouPeriod, as_decimal, resolve_schedule


@dataclass(frozen=True)
class EnergyBucket:
    """``[start, end)`` in UTC, its start on the site's clock, and the quantity metered in it."""

    start: datetime
    end: datetime
    local_start: datetime
    quantity: float

    def __post_init__(self) -> None:
        for name in ("start", "end", "local_start"):
            if getattr(self, name).utcoffset() is None:
                raise ValueError(f"bucket {name} needs a UTC offset")
        if self.end <= self.start:
            raise ValueError(f"bucket end {self.end.isoformat()} is not after its start")
        if self.local_start != self.start:
            raise ValueError(
                f"local_start {self.local_start.isoformat()} is not the same instant as "
                f"start {self.start.isoformat()}"
            )
        if not math.isfinite(self.quantity) or self.quantity < 0:
            raise ValueError(f"bucket quantity must be finite and ≥ 0, got {self.quantity!r}")

    @property
    def minutes(self) -> float:
        return (self.end - self.start).total_seconds() / 60.0


@dataclass(frozen=True)
class CostLine:
    """One bucket priced: its ToU period, unit price and exact cost."""

    start: datetime
    local_start: datetime
    period: TouPeriod
    quantity: Decimal
    unit_price: Decimal
    cost: Decimal
    schedule_id: str


def cost_lines(
    schedules: Iterable[PriceSchedule], buckets: Iterable[EnergyBucket], *, resource: str
) -> list[CostLine]:
    """Price each bucket under the schedule in force at its start.

    Raises:
        LookupError: no schedule covers a bucket.
        ValueError: a bucket straddles a ToU boundary or a local midnight.
    """
    available = [s for s in schedules if s.resource == resource]
    lines: list[CostLine] = []
    for bucket in buckets:
        schedule = resolve_schedule(available, resource=resource, at=bucket.start)
        local = bucket.local_start
        first = local.hour * 60 + local.minute + local.second / 60.0
        last = first + bucket.minutes
        if last > 1440:
            raise ValueError(f"bucket at {local.isoformat()} runs past local midnight: split it")
        if any(first < edge < last for edge in schedule.boundaries_on(local.date())):
            raise ValueError(
                f"bucket at {local.isoformat()} ({bucket.minutes:g} min) straddles a ToU "
                f"boundary of schedule {schedule.id}: use finer buckets"
            )
        period = schedule.period_at(local)
        price = schedule.price(period)
        quantity = as_decimal(bucket.quantity)
        cost = EXACT.multiply(quantity, price)
        lines.append(CostLine(bucket.start, local, period, quantity, price, cost, schedule.id))
    return lines


@dataclass(frozen=True)
class EnergyCost:
    """Energy (commodity) cost of a set of buckets, by ToU period; exact, unrounded."""

    resource: str
    currency: str | None
    quantity_by_period: dict[TouPeriod, Decimal]
    cost_by_period: dict[TouPeriod, Decimal]
    quantity: Decimal
    cost: Decimal
    schedule_ids: tuple[str, ...]
    illustrative: bool

    @property
    def average_price(self) -> Decimal | None:
        """Cost per unit over these buckets; None when nothing was used."""
        return None if self.quantity == 0 else self.cost / self.quantity


def energy_cost(
    schedules: Sequence[PriceSchedule], buckets: Iterable[EnergyBucket], *, resource: str
) -> EnergyCost:
    """Sum ``cost_lines`` by ToU period.

    Raises:
        ValueError: the schedules used are in different currencies (see also ``cost_lines``).
    """
    lines = cost_lines(schedules, buckets, resource=resource)
    by_id = {s.id: s for s in schedules}
    used = tuple(dict.fromkeys(line.schedule_id for line in lines))
    currencies = {by_id[i].currency for i in used}
    if len(currencies) > 1:
        raise ValueError(f"{resource} schedules in different currencies: {sorted(currencies)}")
    quantity: dict[TouPeriod, Decimal] = defaultdict(Decimal)
    cost: dict[TouPeriod, Decimal] = defaultdict(Decimal)
    with localcontext(EXACT):
        for line in lines:
            quantity[line.period] += line.quantity
            cost[line.period] += line.cost
        total_quantity = sum(quantity.values(), Decimal(0))
        total_cost = sum(cost.values(), Decimal(0))
    return EnergyCost(
        resource=resource,
        currency=next(iter(currencies), None),
        quantity_by_period=dict(quantity),
        cost_by_period=dict(cost),
        quantity=total_quantity,
        cost=total_cost,
        schedule_ids=used,
        illustrative=any(by_id[i].illustrative for i in used),
    )


def group_costs(
    lines: Iterable[CostLine], by: Literal["hour", "day", "month"]
) -> dict[str, Decimal]:
    """Exact cost per local hour (``2026-07-15T14``), day (``2026-07-15``) or month."""
    width = {"hour": 13, "day": 10, "month": 7}[by]
    totals: dict[str, Decimal] = defaultdict(Decimal)
    with localcontext(EXACT):
        for line in lines:
            totals[line.local_start.replace(tzinfo=None).isoformat()[:width]] += line.cost
    return dict(totals)


def max_demand_kw(buckets: Iterable[EnergyBucket]) -> float:
    """The highest mean power of any bucket (kWh ÷ h); 15-minute buckets match most meters."""
    return max((b.quantity / (b.minutes / 60.0) for b in buckets), default=0.0)


@dataclass(frozen=True)
class DemandCost:
    """The demand or capacity part of a month's bill."""

    schedule_id: str
    basis: str
    billed_kw: Decimal
    price_per_month: Decimal
    months: Decimal
    cost: Decimal


def demand_cost(
    schedule: PriceSchedule,
    *,
    max_demand_kw: float | None = None,
    capacity_kva: float | None = None,
    months: Decimal = Decimal(1),
) -> DemandCost | None:
    """Demand charge: price × maximum demand (kW) or contracted capacity (kVA) × months.

    Returns None when the schedule has no demand charge.

    Raises:
        ValueError: the figure the charge's basis needs is missing.
    """
    charge = schedule.demand_charge
    if charge is None:
        return None
    billed = max_demand_kw if charge.basis == "max_demand" else capacity_kva
    if billed is None:
        needed = "max_demand_kw" if charge.basis == "max_demand" else "capacity_kva"
        raise ValueError(f"schedule {schedule.id} charges on {charge.basis}: give {needed}")
    kw = as_decimal(billed)
    with localcontext(EXACT):
        cost = kw * charge.price_per_month * months
    return DemandCost(
        schedule.id,
        charge.basis,
        kw,
        charge.price_per_month,
        months,
        cost,
    )


@dataclass(frozen=True)
class LoadShift:
    """What moving a load from one ToU period to another saves, at one schedule's prices."""

    schedule_id: str
    from_period: TouPeriod
    to_period: TouPeriod
    kwh_requested: Decimal
    kwh_moved: Decimal
    from_price: Decimal
    to_price: Decimal
    saving: Decimal
    explanation: str


def load_shift_saving(
    schedule: PriceSchedule,
    kwh: float | Decimal,
    *,
    from_period: TouPeriod = TouPeriod.PEAK,
    to_period: TouPeriod = TouPeriod.VALLEY,
    available_kwh: Decimal | None = None,
) -> LoadShift:
    """Saving of moving ``kwh`` out of ``from_period`` into ``to_period``.

    ``available_kwh`` (e.g. ``EnergyCost.quantity_by_period[PEAK]``) caps what can
    be moved: no more than was used in that period.

    Raises:
        ValueError: ``kwh`` is negative.
        KeyError: the schedule has no price for one of the periods.
    """
    wanted = as_decimal(kwh)
    if wanted < 0:
        raise ValueError("kWh to move must be ≥ 0")
    moved = wanted if available_kwh is None else min(wanted, available_kwh)
    high, low = schedule.price(from_period), schedule.price(to_period)
    with localcontext(EXACT):
        saving = moved * (high - low)
    return LoadShift(
        schedule.id,
        from_period,
        to_period,
        wanted,
        moved,
        high,
        low,
        saving,
        f"{moved} kWh × ({high} − {low}) {schedule.currency}/kWh ({from_period} → {to_period})",
    )
