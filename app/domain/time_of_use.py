"""Factors by time of use: each bucket's kWh or m³ valued with the factor valid then.

A period that spans two factor vintages (the Guizhou 2022 factor until
15 Jan 2026, the China Southern 2023 factor after) sums both, and the result
lists every factor used with the quantity it covered and the kg it gave.

Exact rules: quantities and factors are ``Decimal``; a factor's ``kg_per_unit``
enters as the shortest decimal that round-trips its float (``0.4042`` stays
``0.4042``); products and sums are exact (60 significant digits), so
``kg == Σ uses.kg`` and ``quantity == Σ uses.quantity`` with no rounding.
Selection is ``resolve_factor``'s: the most specific region whose validity
window covers the bucket's start (site override > province > grid region >
country). Catalogue windows open at local midnights, which fall on 15-minute
bucket boundaries, so no bucket straddles two vintages.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from zoneinfo import ZoneInfo

from app.domain.basis import combine_basis
from app.domain.factors import EmissionFactor, ResolvedFactor, resolve_factor
from app.domain.periods import bucket_start, local_day_start

PRECISION = 60
UNIT_BY_RESOURCE = {"electricity": "kWh", "gas": "m3", "water": "m3"}


def exact_kg_per_unit(resolved: ResolvedFactor) -> Decimal:
    """The factor's kg per kWh or m³ as the shortest decimal of its float."""
    return Decimal(repr(resolved.kg_per_unit))


@dataclass(frozen=True)
class FactorUse:
    """One factor's share of a valuation: the quantity it covered and the kg it gave."""

    factor_id: str
    quantity: Decimal
    unit: str
    kg_per_unit: Decimal
    kg: Decimal
    gas_basis: str
    fallback_from: str | None
    first_bucket: datetime
    last_bucket: datetime


@dataclass(frozen=True)
class Valuation:
    """A quantity over many buckets turned into kg, factor by factor (in time order)."""

    resource: str
    method: str
    quantity: Decimal
    kg: Decimal
    uses: tuple[FactorUse, ...]

    @property
    def factor_ids(self) -> tuple[str, ...]:
        return tuple(use.factor_id for use in self.uses)

    @property
    def basis(self) -> str:
        """``CO2``, ``CO2e`` or ``mixed: …`` as the factors used are."""
        return combine_basis((u.factor_id, u.gas_basis) for u in self.uses)

    @property
    def unit(self) -> str:
        return UNIT_BY_RESOURCE[self.resource]


def empty_valuation(resource: str, method: str) -> Valuation:
    return Valuation(resource, method, Decimal(0), Decimal(0), ())


def _check(bucket: datetime, quantity: Decimal, allow_negative: bool) -> None:
    if not isinstance(quantity, Decimal) or not quantity.is_finite():
        raise ValueError(f"quantity at {bucket.isoformat()} must be a finite Decimal")
    if quantity < 0 and not allow_negative:
        raise ValueError(f"quantity at {bucket.isoformat()} is {quantity}, must be ≥ 0")


def value_by_time_of_use(
    quantities: Iterable[tuple[datetime, Decimal]],
    factors: Iterable[EmissionFactor],
    *,
    regions: Sequence[str],
    resource: str,
    method: str,
    allow_negative: bool = False,
) -> Valuation:
    """Value ``(bucket_start, quantity)`` pairs with the factor valid at each bucket.

    Args:
        quantities: kWh (electricity) or m³ (gas, water) per bucket, any order.
        factors: the catalogue's factors.
        regions: the site's regions, most specific first.
        resource, method: e.g. ``electricity`` / ``location``.
        allow_negative: accept negative quantities (an efficiency saving).

    Raises:
        FactorNotFound: a bucket with a non-zero quantity has no valid factor.
        ValueError: a quantity is not a finite Decimal, or negative when not allowed.
    """
    pool = tuple(factors)
    edges = sorted(
        {f.valid_from for f in pool} | {f.valid_to for f in pool if f.valid_to is not None}
    )
    cache: dict[int, ResolvedFactor] = {}
    acc: dict[str, _Acc] = {}  # insertion order = time order of first use
    with localcontext(prec=PRECISION):
        for bucket, quantity in sorted(quantities, key=lambda pair: pair[0]):
            _check(bucket, quantity, allow_negative)
            if quantity == 0:
                continue
            segment = bisect.bisect_right(edges, bucket)  # same segment → same resolution
            resolved = cache.get(segment)
            if resolved is None:
                resolved = resolve_factor(
                    pool, regions=regions, resource=resource, method=method, at=bucket
                )
                cache[segment] = resolved
            entry = acc.setdefault(resolved.factor_id, _Acc(resolved, Decimal(0), bucket, bucket))
            entry.quantity += quantity
            entry.last = bucket
        uses = tuple(entry.use(UNIT_BY_RESOURCE[resource]) for entry in acc.values())
        return Valuation(
            resource=resource,
            method=method,
            quantity=sum((u.quantity for u in uses), Decimal(0)),
            kg=sum((u.kg for u in uses), Decimal(0)),
            uses=uses,
        )


@dataclass
class _Acc:
    resolved: ResolvedFactor
    quantity: Decimal
    first: datetime
    last: datetime

    def use(self, unit: str) -> FactorUse:
        per_unit = exact_kg_per_unit(self.resolved)
        return FactorUse(
            factor_id=self.resolved.factor_id,
            quantity=self.quantity,
            unit=unit,
            kg_per_unit=per_unit,
            kg=self.quantity * per_unit,
            gas_basis=self.resolved.factor.gas_basis,
            fallback_from=self.resolved.fallback_from,
            first_bucket=self.first,
            last_bucket=self.last,
        )


def in_period(
    quantities: Iterable[tuple[datetime, Decimal]], start: datetime, end: datetime
) -> list[tuple[datetime, Decimal]]:
    """The buckets whose start lies in ``[start, end)`` (a local period is a union of buckets)."""
    return [(b, q) for b, q in quantities if start <= b < end]


def misaligned_windows(factors: Iterable[EmissionFactor]) -> tuple[str, ...]:
    """Ids of factors whose window does not start and end on a 15-minute bucket boundary.

    Such a factor would be applied from the start of the bucket its window opens
    in; the catalogue should have none.
    """
    bad = []
    for f in factors:
        for edge in (f.valid_from, f.valid_to):
            if edge is not None and bucket_start(edge) != edge:
                bad.append(f.id)
                break
    return tuple(bad)


def windows_on_local_days(
    factors: Iterable[EmissionFactor], regions: Sequence[str], zone: ZoneInfo
) -> bool:
    """Whether every window of the site's regions opens and closes at a local day start.

    When it does, local-day totals can be valued by time of use exactly, as
    ``(day start, quantity)`` pairs, instead of 96 buckets a day (a year's figure).
    """
    wanted = set(regions)
    for f in factors:
        if f.region not in wanted:
            continue
        for edge in (f.valid_from, f.valid_to):
            if edge is not None and local_day_start(edge, zone) != edge.astimezone(UTC):
                return False
    return True
