"""Price schedules per resource, with time-of-use periods, holidays and validity dates.

Pure: schedules come in as values (``app.energy.file`` reads them) and local
times are passed in. Money is ``Decimal`` throughout; a float quantity is turned
into ``Decimal`` by its shortest repr (``as_decimal``), never through binary
floating point arithmetic, and sums and products run in the ``EXACT`` context.

Time-of-use rule (``PriceSchedule.period_at``): on a listed holiday the
``holiday_bands`` apply when the schedule has them; otherwise the ``bands``. A
band restricted to some months (a critical-peak band in July and August, say)
wins over a band for every month; a minute no band covers is ``flat``. Bands of
the same kind may not overlap, so the answer is never a matter of order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import (
    MAX_EMAX,
    MAX_PREC,
    MIN_EMIN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)
from enum import StrEnum
from itertools import pairwise
from typing import Final

RESOURCE_UNIT: Final[dict[str, str]] = {"electricity": "kWh", "gas": "m3", "water": "m3"}
MINUTES_PER_DAY: Final = 1440
DEMAND_BASES: Final = frozenset({"max_demand", "capacity"})
# Sums and products of money are exact: the default 28-digit context would round
# a large total plus a tiny bucket. Never divide in this context (no end to 1/3).
EXACT: Final = Context(
    prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[InvalidOperation, DivisionByZero, Overflow]
)


class TouPeriod(StrEnum):
    """Time-of-use period of a Chinese industrial tariff."""

    CRITICAL_PEAK = "critical_peak"
    PEAK = "peak"
    FLAT = "flat"
    VALLEY = "valley"


def as_decimal(value: float | int | Decimal | str) -> Decimal:
    """A quantity as ``Decimal`` by its shortest repr (0.1 → Decimal('0.1')).

    Raises:
        ValueError: not finite.
    """
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite number")
        result = Decimal(repr(value))
    else:
        result = Decimal(value)
    if not result.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return result


def round_money(amount: Decimal, places: int = 2) -> Decimal:
    """Round for display or billing (half up); sums are kept unrounded."""
    return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _minute(moment: time) -> int:
    return moment.hour * 60 + moment.minute


@dataclass(frozen=True)
class TouBand:
    """A local wall-clock band ``[start, end)``; ``end`` 00:00 is midnight, start > end wraps.

    ``months`` empty means every month.
    """

    period: TouPeriod
    start: time
    end: time
    months: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if self.start == self.end:
            raise ValueError(f"{self.period} band starts and ends at {self.start}: it is empty")
        if any(m not in range(1, 13) for m in self.months):
            raise ValueError(f"months must be 1-12, got {sorted(self.months)}")
        if self.start.second or self.end.second or self.start.microsecond or self.end.microsecond:
            raise ValueError("band bounds are whole minutes")

    def spans(self) -> tuple[tuple[int, int], ...]:
        """Covered minutes of the day as half-open ``(from, to)`` spans."""
        start, end = _minute(self.start), _minute(self.end) or MINUTES_PER_DAY
        if start < end:
            return ((start, end),)
        return ((start, MINUTES_PER_DAY), (0, end))

    def covers(self, month: int, minute: int) -> bool:
        if self.months and month not in self.months:
            return False
        return any(lo <= minute < hi for lo, hi in self.spans())


@dataclass(frozen=True)
class DemandCharge:
    """Two-part tariff's second part: a monthly price per kW of demand or kVA of capacity."""

    basis: str
    price_per_month: Decimal

    def __post_init__(self) -> None:
        if self.basis not in DEMAND_BASES:
            raise ValueError(f"demand basis {self.basis!r} must be one of {sorted(DEMAND_BASES)}")
        if self.price_per_month < 0:
            raise ValueError("a demand charge cannot be negative")


@dataclass(frozen=True)
class PriceSchedule:
    """Prices of one resource over ``[valid_from, valid_to)``.

    ``prices`` holds a price per ToU period in use (a flat tariff: only ``flat``).
    ``illustrative`` marks demo values that are not any utility's tariff.
    """

    id: str
    resource: str
    currency: str
    valid_from: datetime
    valid_to: datetime | None
    prices: Mapping[TouPeriod, Decimal]
    bands: tuple[TouBand, ...] = ()
    holidays: frozenset[date] = frozenset()
    holiday_bands: tuple[TouBand, ...] | None = None
    demand_charge: DemandCharge | None = None
    source: str = ""
    illustrative: bool = False
    unit: str = field(init=False)

    def __post_init__(self) -> None:
        if self.resource not in RESOURCE_UNIT:
            raise ValueError(f"resource {self.resource!r} must be one of {sorted(RESOURCE_UNIT)}")
        object.__setattr__(self, "unit", RESOURCE_UNIT[self.resource])
        if len(self.currency) != 3 or not self.currency.isupper():
            raise ValueError(f"currency {self.currency!r} must be an ISO 4217 code such as 'CNY'")
        for name in ("valid_from", "valid_to"):
            moment = getattr(self, name)
            if moment is not None and moment.utcoffset() is None:
                raise ValueError(f"schedule {self.id}: {name} needs a UTC offset")
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise ValueError(f"schedule {self.id}: valid_to is not after valid_from")
        for period, price in self.prices.items():
            if not isinstance(price, Decimal) or not price.is_finite() or price < 0:
                raise ValueError(f"schedule {self.id}: {period} price must be a Decimal ≥ 0")
        if self.demand_charge is not None and self.resource != "electricity":
            raise ValueError(f"schedule {self.id}: demand charges apply to electricity only")
        for label, bands in (("bands", self.bands), ("holiday_bands", self.holiday_bands or ())):
            self._check_bands(label, bands)

    def _check_bands(self, label: str, bands: tuple[TouBand, ...]) -> None:
        for band in bands:
            if band.period not in self.prices:
                raise ValueError(
                    f"schedule {self.id}: {label} use {band.period} but it has no price"
                )
        for month in range(1, 13):
            covered: list[tuple[int, int]] = []
            for specific in (True, False):
                spans = sorted(
                    span
                    for b in bands
                    if bool(b.months) is specific and (not b.months or month in b.months)
                    for span in b.spans()
                )
                if any(lo < prev_hi for (_, prev_hi), (lo, _) in pairwise(spans)):
                    raise ValueError(f"schedule {self.id}: {label} overlap in month {month}")
                covered.extend(spans)
            if _uncovered(covered) and TouPeriod.FLAT not in self.prices:
                raise ValueError(
                    f"schedule {self.id}: some minutes of month {month} fall in no band and "
                    "there is no flat price"
                )

    def covers(self, at: datetime) -> bool:
        return self.valid_from <= at and (self.valid_to is None or at < self.valid_to)

    def bands_on(self, day: date) -> tuple[TouBand, ...]:
        """The bands in force on a local calendar day (holiday bands on a listed holiday)."""
        if self.holiday_bands is not None and day in self.holidays:
            return self.holiday_bands
        return self.bands

    def period_at(self, local: datetime) -> TouPeriod:
        """The ToU period of a local wall-clock moment; see the module docstring."""
        minute = local.hour * 60 + local.minute
        bands = self.bands_on(local.date())
        for specific in (True, False):
            for band in bands:
                if bool(band.months) is specific and band.covers(local.month, minute):
                    return band.period
        return TouPeriod.FLAT

    def boundaries_on(self, day: date) -> frozenset[int]:
        """Minutes of the day at which the ToU period may change."""
        return frozenset(
            edge
            for band in self.bands_on(day)
            if not band.months or day.month in band.months
            for span in band.spans()
            for edge in span
        )

    def price(self, period: TouPeriod) -> Decimal:
        """The price of ``period``.

        Raises:
            KeyError: the schedule has no price for it.
        """
        if period not in self.prices:
            raise KeyError(f"schedule {self.id} has no {period} price")
        return self.prices[period]


def _uncovered(spans: list[tuple[int, int]]) -> bool:
    """Whether the union of minute spans leaves part of the day uncovered."""
    reach = 0
    for lo, hi in sorted(spans):
        if lo > reach:
            return True
        reach = max(reach, hi)
    return reach < MINUTES_PER_DAY


def resolve_schedule(
    schedules: Iterable[PriceSchedule], *, resource: str, at: datetime
) -> PriceSchedule:
    """The schedule of ``resource`` in force at ``at`` (the latest ``valid_from`` wins).

    Raises:
        LookupError: none covers ``at``.
    """
    usable = [s for s in schedules if s.resource == resource and s.covers(at)]
    if not usable:
        raise LookupError(f"no {resource} price schedule in force at {at.isoformat()}")
    return max(usable, key=lambda s: s.valid_from)
