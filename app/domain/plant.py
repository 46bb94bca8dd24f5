"""The plant model: sites, areas and meters as the plant file describes them.

Pure validation only; reading the YAML file lives in ``app.plant.file``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.domain.registers import RegisterKind, RegisterSpec
from app.domain.units import CANONICAL_UNIT, Dimension, UnknownUnitError, parse_unit

Identifier = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


class Resource(StrEnum):
    """What a meter measures.

    ``electricity_import`` and ``electricity_export`` are the grid connection;
    ``electricity`` is a consumption feeder behind it (area breakdown);
    ``pv`` is on-site generation. Site consumption = import + pv - export.
    """

    ELECTRICITY = "electricity"
    ELECTRICITY_IMPORT = "electricity_import"
    ELECTRICITY_EXPORT = "electricity_export"
    PV = "pv"
    GAS = "gas"
    WATER = "water"
    WATER_REUSE = "water_reuse"
    PRODUCTION = "production"


ELECTRIC_RESOURCES = frozenset(
    {Resource.ELECTRICITY, Resource.ELECTRICITY_IMPORT, Resource.ELECTRICITY_EXPORT, Resource.PV}
)


def expected_dimension(resource: Resource, register: RegisterKind) -> Dimension:
    """The physical dimension a meter of this resource and register kind reports."""
    if resource in ELECTRIC_RESOURCES:
        return Dimension.POWER if register is RegisterKind.INSTANTANEOUS else Dimension.ENERGY
    if resource is Resource.PRODUCTION:
        return Dimension.COUNT
    return Dimension.VOLUME


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class AlertRules(_Strict):
    """Alert thresholds; any field left out inherits from the enclosing level."""

    spike_sigma: float | None = Field(default=None, gt=0)
    spike_abs_kw: float | None = Field(default=None, gt=0)
    spike_min_excess_kw: float | None = Field(default=None, ge=0)
    spike_min_duration_s: float | None = Field(default=None, ge=0)
    offline_missed_intervals: int | None = Field(default=None, ge=1)
    pv_shortfall_ratio: float | None = Field(default=None, gt=0, lt=1)
    enabled: bool | None = None


class Meter(_Strict):
    """One meter: what it measures, how its register behaves and how often it reports."""

    id: Identifier
    name: str
    area: Identifier
    resource: Resource
    register_kind: RegisterKind = Field(alias="register")
    unit: str
    multiplier: float = Field(default=1.0, gt=0, description="CT/VT ratio or pulse weight")
    rollover: float | None = Field(
        default=None,
        gt=0,
        description="raw register range: the value at which it reads 0 again (100000 for 99999.9)",
    )
    expected_interval_s: float = Field(default=60.0, gt=0)
    rated_kw: float | None = Field(
        default=None, gt=0, description="rated power (electric) or kW-equivalent ceiling"
    )
    max_rate_per_hour: float | None = Field(
        default=None,
        gt=0,
        description="plausible maximum quantity per hour in canonical units (m3/h, unit/h)",
    )
    alerts: AlertRules | None = None

    @field_validator("unit")
    @classmethod
    def _known_unit(cls, unit: str) -> str:
        try:
            parse_unit(unit)
        except UnknownUnitError as exc:
            raise ValueError(str(exc)) from None
        return unit

    @model_validator(mode="after")
    def _unit_fits_resource(self) -> Meter:
        dimension = parse_unit(self.unit).dimension
        wanted = expected_dimension(self.resource, self.register_kind)
        if dimension is not wanted:
            raise ValueError(
                f"unit {self.unit!r} is a {dimension.value} unit, but a {self.register_kind.value} "
                f"{self.resource.value} meter reports {wanted.value}"
            )
        return self

    def register_spec(self) -> RegisterSpec:
        """The register behaviour in canonical units (multiplier applied)."""
        unit = parse_unit(self.unit)
        rollover = None if self.rollover is None else self.rollover * self.multiplier * unit.factor
        return RegisterSpec(
            kind=self.register_kind,
            rollover_at=rollover,
            max_rate_per_hour=self.plausible_rate_per_hour(),
            max_gap_s=self.expected_interval_s * 5,
            unit=CANONICAL_UNIT[unit.dimension],
        )

    def plausible_rate_per_hour(self) -> float | None:
        """The most a healthy meter can count in an hour, with 50 % headroom."""
        if self.max_rate_per_hour is not None:
            return self.max_rate_per_hour
        if self.rated_kw is not None and self.resource in ELECTRIC_RESOURCES:
            return self.rated_kw * 1.5
        return None


class Area(_Strict):
    """A production area or utility zone; areas nest."""

    id: Identifier
    name: str
    areas: tuple[Area, ...] = ()
    alerts: AlertRules | None = None
    feeder: Identifier | None = Field(
        default=None,
        description="an electricity meter measuring the whole area, sub-areas included",
    )


class GreenCertificate(_Strict):
    """Green electricity certificates (e.g. China GEC) retired for a period."""

    period_start: date
    period_end: date
    mwh: float = Field(gt=0)
    scheme: str = Field(default="GEC", min_length=1, max_length=32)
    reference: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _ordered(self) -> GreenCertificate:
        if self.period_end <= self.period_start:
            raise ValueError("period_end must be after period_start")
        return self


class Offset(_Strict):
    """Carbon offsets retired; reported beside the inventory, never netted into it."""

    retired_on: date
    tonnes_co2e: float = Field(gt=0)
    standard: str = Field(min_length=1, max_length=64)
    reference: str | None = Field(default=None, max_length=200)


class Baseline(_Strict):
    """Energy baseline for EnPI (ISO 50006): electricity kWh per unit of product."""

    kwh_per_unit: float = Field(gt=0)
    period: str = Field(description="the baseline period, e.g. '2025'")
    production_meter: Identifier = Field(description="the counter of finished product")


SparkplugId = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^/+#]+$")]
"""A Sparkplug B group, edge node or device id: one topic level, no wildcards."""


class SparkplugMetric(_Strict):
    """A Sparkplug metric mapped to a meter, when the short form (the meter id) is not enough."""

    meter: Identifier
    unit: str | None = None
    """What the gateway sends, if not the meter's unit (must be convertible to it)."""
    register_kind: RegisterKind | None = Field(default=None, alias="register")
    """If given, must be the meter's register kind (a check on the gateway's tag)."""


class SparkplugSource(_Strict):
    """One Sparkplug edge node (``device`` None) or device of it, and the meters its metrics are."""

    group: SparkplugId
    edge_node: SparkplugId
    device: SparkplugId | None = None
    metrics: dict[Annotated[str, Field(min_length=1)], Identifier | SparkplugMetric]


class Site(_Strict):
    """A plant site with its own timezone, location and grid region."""

    id: Identifier
    name: str
    timezone: str
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    grid_region: str | None = None
    province: str | None = None
    tariff_per_kwh: float | None = Field(default=None, ge=0)
    currency: str = "CNY"
    areas: tuple[Area, ...]
    meters: tuple[Meter, ...]
    green_certificates: tuple[GreenCertificate, ...] = ()
    offsets: tuple[Offset, ...] = ()
    baseline: Baseline | None = None
    alerts: AlertRules | None = None
    sparkplug: tuple[SparkplugSource, ...] = ()
    """Sparkplug B edge nodes and devices whose metrics are this site's meters."""

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, tz: str) -> str:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone {tz!r}") from None
        return tz

    @model_validator(mode="after")
    def _references_resolve(self) -> Site:
        area_ids = [area.id for area, _ in self.walk_areas()]
        _no_duplicates(area_ids, "area")
        _no_duplicates([m.id for m in self.meters], "meter")
        known = set(area_ids)
        for meter in self.meters:
            if meter.area not in known:
                raise ValueError(
                    f"meter {meter.id!r} names area {meter.area!r}, which this site does not have"
                )
        electricity = {m.id for m in self.meters if m.resource is Resource.ELECTRICITY}
        for area, _ in self.walk_areas():
            if area.feeder is not None and area.feeder not in electricity:
                raise ValueError(
                    f"area {area.id!r}: feeder {area.feeder!r} is not an electricity meter of "
                    "this site"
                )
        if self.baseline is not None:
            product = next((m for m in self.meters if m.id == self.baseline.production_meter), None)
            if product is None or product.resource is not Resource.PRODUCTION:
                raise ValueError(
                    f"baseline.production_meter {self.baseline.production_meter!r} "
                    "is not a production meter of this site"
                )
        meter_ids = {m.id for m in self.meters}
        for source in self.sparkplug:
            for name, target in source.metrics.items():
                meter_id = target if isinstance(target, str) else target.meter
                if meter_id not in meter_ids:
                    raise ValueError(
                        f"sparkplug metric {name!r} of {source.group}/{source.edge_node} "
                        f"names meter {meter_id!r}, which this site does not have"
                    )
        return self

    def walk_areas(self) -> Iterator[tuple[Area, str | None]]:
        """Every area with its parent id, depth first."""
        stack: list[tuple[Area, str | None]] = [(a, None) for a in reversed(self.areas)]
        while stack:
            area, parent = stack.pop()
            yield area, parent
            stack.extend((child, area.id) for child in reversed(area.areas))

    def regions(self) -> tuple[str, ...]:
        """Factor regions from most to least specific: site override > province > grid > country."""
        chain = [f"site:{self.id}", self.province, self.grid_region, self.country]
        return tuple(r for r in chain if r)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Plant(_Strict):
    """Everything the plant file says."""

    name: str
    sites: tuple[Site, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _globally_unique(self) -> Plant:
        _no_duplicates([s.id for s in self.sites], "site")
        _no_duplicates([m.id for s in self.sites for m in s.meters], "meter")
        return self

    def site(self, site_id: str) -> Site:
        for site in self.sites:
            if site.id == site_id:
                return site
        raise KeyError(site_id)

    def meters(self) -> Iterator[tuple[Site, Meter]]:
        for site in self.sites:
            for meter in site.meters:
                yield site, meter


def _no_duplicates(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"{what} id {item!r} is used more than once")
        seen.add(item)
