"""Certificates applied to consumption: never more than the consumption of their period.

A certificate is claimed for a site-local period (``claimed_first`` …
``claimed_last``). Its kWh cover that period's consumption bucket by bucket in
time order until spent (so every split of the period adds up to
``min(certificate kWh, consumption)``); what is left when the period is over is
**excess**: reported, never used. Certificates for shorter periods (a month)
are applied before those for longer ones (a year) that overlap them, and a
bucket is never covered twice. All quantities are ``Decimal`` and exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from app.domain.instruments import Certificate
from app.domain.periods import date_range_bounds


@dataclass(frozen=True)
class CertificateUse:
    """How much of one certificate covered consumption, and what is left over."""

    reference: str
    instrument_type: str
    kwh: Decimal
    used_kwh: Decimal
    unused_kwh: Decimal
    period_over: bool

    @property
    def excess_kwh(self) -> Decimal:
        """kWh that can no longer cover anything: the claimed period is over."""
        return self.unused_kwh if self.period_over else Decimal(0)


@dataclass(frozen=True)
class Coverage:
    """Covered kWh per bucket, per-certificate use, and notes for the figure."""

    covered: Mapping[datetime, Decimal]
    uses: tuple[CertificateUse, ...]
    notes: tuple[str, ...]

    def covered_kwh(self, start: datetime, end: datetime) -> Decimal:
        """Covered kWh of the buckets starting in ``[start, end)``."""
        return sum((kwh for b, kwh in self.covered.items() if start <= b < end), Decimal(0))

    @property
    def excess_kwh(self) -> Decimal:
        return sum((u.excess_kwh for u in self.uses), Decimal(0))

    @property
    def used_references(self) -> tuple[str, ...]:
        """The certificates that covered some consumption."""
        return tuple(u.reference for u in self.uses if u.used_kwh > 0)


def cover_consumption(
    certificates: Sequence[Certificate],
    consumption: Iterable[tuple[datetime, Decimal]],
    zone: ZoneInfo,
    *,
    as_of: datetime,
) -> Coverage:
    """Spend certificates on the consumption of their claimed periods, in time order.

    Args:
        certificates: registered certificates (already checked against region rules).
        consumption: market-based kWh per bucket (import, plus self-consumed PV when
            the PV's certificates were sold); must include every bucket of the
            certificates' claimed periods that has happened by ``as_of``.
        zone: the site's zone, for the claimed local dates.
        as_of: now; a claimed period not over by then reports unused kWh, not excess.
    """
    remaining: dict[datetime, Decimal] = {}
    for bucket, kwh in consumption:
        if kwh < 0:
            raise ValueError(f"consumption at {bucket.isoformat()} is negative: {kwh}")
        remaining[bucket] = remaining.get(bucket, Decimal(0)) + kwh
    ordered_buckets = sorted(remaining)
    covered: dict[datetime, Decimal] = {}
    uses: list[CertificateUse] = []
    notes: list[str] = []
    groups: dict[tuple[date, date], list[Certificate]] = {}
    for cert in certificates:
        groups.setdefault((cert.claimed_first, cert.claimed_last), []).append(cert)
    for (first, last), group in sorted(groups.items(), key=lambda g: (g[0][1] - g[0][0], g[0])):
        start, end = date_range_bounds(first, last + timedelta(days=1), zone)
        buckets = [b for b in ordered_buckets if start <= b < end]
        for cert in sorted(group, key=lambda c: (c.generation_first, c.reference)):
            left = cert.kwh
            for b in buckets:
                if left == 0:
                    break
                take = min(left, remaining[b])
                if take:
                    remaining[b] -= take
                    covered[b] = covered.get(b, Decimal(0)) + take
                    left -= take
            use = CertificateUse(
                cert.reference, cert.instrument_type, cert.kwh, cert.kwh - left, left, end <= as_of
            )
            uses.append(use)
            if use.excess_kwh:
                notes.append(
                    f"certificate {cert.reference}: {use.excess_kwh} kWh exceed the "
                    f"consumption of {first}…{last} and are not counted"
                )
    return Coverage(covered=covered, uses=tuple(uses), notes=tuple(notes))
