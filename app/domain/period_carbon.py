"""One site's CO₂ figures for one site-local period, from 15-minute bucket series.

The entry point the rollups, figures, API and wall call. Everything is valued
by time of use (``time_of_use``), certificates are applied by ``certificates``
(never beyond the consumption of their claimed period), the levers are split
physical / contractual (``levers``), offsets are counted by site-local
retirement day and reported beside the inventory, and every total carries its
gas basis and factor ids. Identities (tested as properties):

* ``scope2_location`` values the import; certificates never change it;
* ``scope2_market`` values (market kWh − covered kWh) per bucket at the
  residual mix (the grid factor where none is published, with a note);
* ``market_without_certificates == scope2_market.kg + certificates lever kg``;
* ``inventory_* = scope 1 + scope 2``; water, levers and offsets are apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from app.domain.allocation import Allocation, Area, allocate
from app.domain.basis import combine_basis
from app.domain.certificates import Coverage
from app.domain.factors import EmissionFactor, FactorNotFound
from app.domain.instruments import Offset, OffsetTotal, offsets_in_period
from app.domain.levers import Reductions, efficiency_savings, split_reductions
from app.domain.periods import Period
from app.domain.time_of_use import Valuation, empty_valuation, value_by_time_of_use

Series = Sequence[tuple[datetime, Decimal]]


@dataclass(frozen=True)
class BucketSeries:
    """A site's metered quantities per 15-minute bucket (``Decimal``, kWh or m³).

    ``baseline_predicted_kwh`` is the baseline model's prediction per bucket
    (None: no baseline, no efficiency lever); it is compared with
    ``consumption_kwh`` (import + PV − export).
    """

    import_kwh: Series
    pv_self_consumed_kwh: Series = ()
    consumption_kwh: Series = ()
    gas_m3: Series = ()
    water_m3: Series = ()
    water_reuse_m3: Series = ()
    baseline_predicted_kwh: Series | None = None


@dataclass(frozen=True)
class PeriodCarbon:
    """The period's figures; each valuation lists its factor uses."""

    period: Period
    scope1_gas: Valuation
    scope2_location: Valuation
    scope2_market: Valuation
    water: Valuation | None
    certificate_covered_kwh: Decimal
    certificate_references: tuple[str, ...]
    reductions: Reductions
    offsets: OffsetTotal
    notes: tuple[str, ...]

    @property
    def inventory_location_kg(self) -> Decimal:
        return self.scope1_gas.kg + self.scope2_location.kg

    @property
    def inventory_market_kg(self) -> Decimal:
        return self.scope1_gas.kg + self.scope2_market.kg

    @property
    def inventory_location_basis(self) -> str:
        return _basis(self.scope1_gas, self.scope2_location)

    @property
    def inventory_market_basis(self) -> str:
        return _basis(self.scope1_gas, self.scope2_market)

    @property
    def factor_ids(self) -> Mapping[str, tuple[str, ...]]:
        """Every ``*_kg`` figure → the factor ids it used, in time order."""
        gas, location, market = (
            self.scope1_gas.factor_ids,
            self.scope2_location.factor_ids,
            self.scope2_market.factor_ids,
        )
        return {
            "scope1_gas_kg": gas,
            "scope2_location_kg": location,
            "scope2_market_kg": market,
            "water_kg": () if self.water is None else self.water.factor_ids,
            "inventory_location_kg": (*gas, *location),
            "inventory_market_kg": (*gas, *market),
            "physical_reduced_kg": _ids(x.factor_ids for x in self.reductions.physical),
            "contractual_reduced_kg": _ids(x.factor_ids for x in self.reductions.contractual),
            "offsets_retired_kg": (),
        }


def _basis(*valuations: Valuation) -> str:
    return combine_basis((u.factor_id, u.gas_basis) for v in valuations for u in v.uses)


def _ids(groups: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for group in groups for i in group))


def _within(series: Series, period: Period) -> list[tuple[datetime, Decimal]]:
    return [(b, q) for b, q in series if period.start <= b < period.end]


def period_carbon(
    period: Period,
    series: BucketSeries,
    factors: Iterable[EmissionFactor],
    *,
    regions: Sequence[str],
    zone: ZoneInfo,
    coverage: Coverage | None = None,
    offsets: Sequence[Offset] = (),
    pv_certificates_sold: bool = False,
    baseline: str = "the baseline",
) -> PeriodCarbon:
    """Scope 1, dual scope 2, water, levers and offsets for ``period``.

    Args:
        period: a site-local period (``periods.local_period``); buckets outside it are ignored.
        series: the site's bucket series (at least the period's buckets).
        factors: the catalogue's factors.
        regions: the site's regions, most specific first.
        zone: the site's zone (offsets' local retirement days).
        coverage: ``cover_consumption`` over the certificates' claimed periods.
        offsets: the site's registered offsets.
        pv_certificates_sold: the PV's certificates were sold (see docs/carbon.md).
        baseline: the baseline model's name for the efficiency explanation.

    Raises:
        FactorNotFound: electricity or gas used with no factor valid at that time.
    """
    pool = tuple(factors)
    notes: list[str] = []

    def value(data: Series, resource: str, method: str, negative: bool = False) -> Valuation:
        return value_by_time_of_use(
            _within(data, period),
            pool,
            regions=regions,
            resource=resource,
            method=method,
            allow_negative=negative,
        )

    imported = _within(series.import_kwh, period)
    location = value(imported, "electricity", "location")
    gas = value(series.gas_m3, "gas", "fuel")
    market_kwh: dict[datetime, Decimal] = {}
    for b, q in imported:
        market_kwh[b] = market_kwh.get(b, Decimal(0)) + q
    if pv_certificates_sold:
        for b, q in _within(series.pv_self_consumed_kwh, period):
            market_kwh[b] = market_kwh.get(b, Decimal(0)) + q
    covered = {
        b: min(q, market_kwh.get(b, Decimal(0)))
        for b, q in (coverage.covered.items() if coverage else ())
        if period.start <= b < period.end
    }
    if coverage is not None:
        notes.extend(coverage.notes)
    uncovered = [(b, q - covered.get(b, Decimal(0))) for b, q in sorted(market_kwh.items())]
    market = value(uncovered, "electricity", "market_residual")
    if any(u.fallback_from for u in market.uses):
        notes.append(
            "no residual mix for some of this period: market-based scope 2 uses the location "
            "factor there (" + ", ".join(u.factor_id for u in market.uses if u.fallback_from) + ")"
        )
    certificates = value(sorted(covered.items()), "electricity", "market_residual")
    water: Valuation | None
    water_reuse: Valuation | None
    try:
        water = value(series.water_m3, "water", "supply")
        water_reuse = value(series.water_reuse_m3, "water", "supply")
    except FactorNotFound:
        water = water_reuse = None
        notes.append("no water-supply factor for these regions: water not assessed")
    pv = value(series.pv_self_consumed_kwh, "electricity", "location")
    efficiency = None
    if series.baseline_predicted_kwh is not None:
        saved = efficiency_savings(
            _within(series.baseline_predicted_kwh, period), _within(series.consumption_kwh, period)
        )
        efficiency = value(saved, "electricity", "location", negative=True)
    retired = offsets_in_period(offsets, period.start, period.end, zone)
    reductions = split_reductions(
        pv=pv if series.pv_self_consumed_kwh else None,
        efficiency=efficiency,
        water_reuse=water_reuse if series.water_reuse_m3 else None,
        certificates=certificates if coverage is not None else None,
        offsets=retired,
        pv_certificates_sold=pv_certificates_sold,
        baseline=baseline,
    )
    for valuation in (location, market, gas, water):
        for use in () if valuation is None else valuation.uses:
            factor = next(f for f in pool if f.id == use.factor_id)
            if factor.status == "unverified":
                notes.append(f"factor {use.factor_id} is unverified: check it before reporting")
    return PeriodCarbon(
        period=period,
        scope1_gas=gas if gas.uses else empty_valuation("gas", "fuel"),
        scope2_location=location,
        scope2_market=market,
        water=water,
        certificate_covered_kwh=sum(covered.values(), Decimal(0)),
        certificate_references=coverage.used_references if coverage else (),
        reductions=reductions,
        offsets=retired,
        notes=tuple(dict.fromkeys(notes)),
    )


def scope2_by_area(
    figures: PeriodCarbon,
    *,
    site_consumption_kwh: Decimal,
    areas: Sequence[Area],
    meter_kwh: Mapping[str, Decimal],
) -> Allocation:
    """The period's scope 2 (both methods) and certificate cover allocated to ``areas``.

    Shares are by each line's consumption over the whole period (``allocation``),
    so certificates are pro rata and the areas plus the remainder add up to the
    site exactly for every figure.
    """
    return allocate(
        site_kwh=site_consumption_kwh,
        figures={
            "scope2_location_kg": figures.scope2_location.kg,
            "scope2_market_kg": figures.scope2_market.kg,
            "certificate_covered_kwh": figures.certificate_covered_kwh,
            "certificates_lever_kg": figures.reductions.contractual_kg,
        },
        areas=areas,
        meter_kwh=meter_kwh,
    )
