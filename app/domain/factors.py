"""Emission factors: what one kWh or m³ emits, per region and validity window.

Pure: factors come in as values (``app.carbon.catalogue`` reads the YAML) and
the reading's time is passed in.

Resolution rule (``resolve_factor``): walk the caller's ``regions`` from most to
least specific (``site:<id>`` > province > grid region > country); the first
region with a factor of the wanted resource and method whose validity window
``[valid_from, valid_to)`` covers the reading wins; several in that region →
the newest ``data_year``, then the latest ``valid_from``. A market-based lookup
(``market_residual``) with no residual factor in any of the regions falls back
to the location factor and says so in ``ResolvedFactor.fallback_from``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from app.domain.units import CANONICAL_UNIT, Dimension, UnknownUnitError, parse_unit

RESOURCES: Final = frozenset({"electricity", "gas", "water"})
GAS_BASES: Final = frozenset({"CO2", "CO2e"})
STATUSES: Final = frozenset({"published", "secondary", "unverified", "derived"})
METHODS_BY_RESOURCE: Final[dict[str, frozenset[str]]] = {
    "electricity": frozenset({"location", "market_residual"}),
    "gas": frozenset({"fuel"}),
    "water": frozenset({"supply"}),
}
# What a factor is per, once normalised: kWh of electricity, m³ of gas or water.
_PER_DIMENSION: Final = {
    "electricity": Dimension.ENERGY,
    "gas": Dimension.VOLUME,
    "water": Dimension.VOLUME,
}

KG_PER_LB: Final = 0.45359237  # exact, by definition of the international pound
_KG_PER_MASS_UNIT: Final = {"g": 0.001, "kg": 1.0, "t": 1000.0, "lb": KG_PER_LB}
# Energy units the meter unit table does not list but fuel factors are published in.
_EXTRA_ENERGY_UNITS: Final = frozenset({"TJ"})

_UNIT_RE: Final = re.compile(r"^(g|kg|t|lb)\s?(CO2e?)/(\S+)$")
_ID_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_REGION_RE: Final = re.compile(r"^(site:[A-Za-z0-9][A-Za-z0-9._-]*|[A-Z]{2,}(-[A-Z0-9]+)*)$")


class InvalidFactorError(ValueError):
    """A factor field holds a value GreenPulse cannot use; ``field_name`` names the field."""

    def __init__(self, field_name: str, problem: str) -> None:
        self.field_name = field_name
        self.problem = problem
        super().__init__(f"{field_name}: {problem}")


class FactorNotFound(LookupError):  # noqa: N818 (name fixed by the API)
    """No factor covers the requested regions, resource, method and time."""

    def __init__(
        self, *, regions: Sequence[str], resource: str, method: str, at: datetime, tried: str = ""
    ) -> None:
        self.regions = tuple(regions)
        self.resource = resource
        self.method = method
        self.at = at
        where = ", ".join(self.regions) or "(no regions given)"
        super().__init__(
            f"no {resource} emission factor with method {method!r} for regions [{where}] "
            f"valid at {at.isoformat()}{tried}; add one to the catalogue or an override file"
        )


def kg_per_canonical_unit(value: float, unit: str, resource: str) -> float | None:
    """``value`` in ``unit`` as kg per kWh (electricity) or kg per m³ (gas, water).

    Returns None for a fuel factor published per unit of energy (e.g. kgCO2/TJ):
    turning it into kg per m³ needs a calorific value, so it is a reference only.

    Raises:
        InvalidFactorError: the unit is not ``<mass><CO2|CO2e>/<activity unit>`` or its
            activity unit does not fit the resource.
    """
    mass, _, per = _split_unit(unit)
    if per in _EXTRA_ENERGY_UNITS:
        dimension, per_factor = Dimension.ENERGY, None
    else:
        try:
            per_unit = parse_unit(per)
        except UnknownUnitError:
            raise InvalidFactorError("unit", f"{unit!r}: unknown activity unit {per!r}") from None
        dimension, per_factor = per_unit.dimension, per_unit.factor
    wanted = _PER_DIMENSION[resource]
    if dimension is wanted and per_factor is not None:
        return value * _KG_PER_MASS_UNIT[mass] / per_factor
    if resource == "gas" and dimension is Dimension.ENERGY:
        return None
    raise InvalidFactorError(
        "unit",
        f"{unit!r} is per {dimension.value}, but a {resource} factor must be per "
        f"{wanted.value} (e.g. per {CANONICAL_UNIT[wanted]})",
    )


def _split_unit(unit: str) -> tuple[str, str, str]:
    """``kgCO2e/m3`` → ``("kg", "CO2e", "m3")``."""
    match = _UNIT_RE.match(unit.replace("₂", "2").replace("³", "3").strip())
    if match is None:
        raise InvalidFactorError(
            "unit", f"{unit!r} is not of the form <g|kg|t|lb><CO2|CO2e>/<unit>, e.g. 'kgCO2/kWh'"
        )
    mass, gas, per = match.groups()
    return mass, gas, per


@dataclass(frozen=True)
class EmissionFactor:
    """One published (or operator-set) factor, as the catalogue lists it.

    ``kg_per_unit`` is derived from ``value`` and ``unit``: kg per kWh for
    electricity, kg per m³ for gas and water; None for a reference-only row whose
    unit cannot be used per m³ without more data (a fuel factor per TJ).
    Validity is the half-open window ``[valid_from, valid_to)``; ``valid_to``
    None leaves it open. Both bounds must carry a UTC offset.
    """

    id: str
    region: str
    resource: str
    method: str
    value: float
    unit: str
    gas_basis: str
    data_year: int
    valid_from: datetime
    valid_to: datetime | None
    source: str
    status: str
    notes: str = ""
    kg_per_unit: float | None = field(init=False)

    def __post_init__(self) -> None:
        if not _ID_RE.match(self.id):
            raise InvalidFactorError("id", f"{self.id!r} must be letters, digits, '.', '_' or '-'")
        if not _REGION_RE.match(self.region):
            raise InvalidFactorError(
                "region",
                f"{self.region!r} must be a region code such as 'CN', 'CN-GZ' or 'site:<site_id>'",
            )
        if self.resource not in RESOURCES:
            raise InvalidFactorError(
                "resource", f"{self.resource!r} is not one of {', '.join(sorted(RESOURCES))}"
            )
        methods = METHODS_BY_RESOURCE[self.resource]
        if self.method not in methods:
            raise InvalidFactorError(
                "method",
                f"{self.method!r} does not apply to {self.resource}; "
                f"use {', '.join(sorted(methods))}",
            )
        if not math.isfinite(self.value) or self.value < 0:
            raise InvalidFactorError("value", f"{self.value!r} must be a finite number ≥ 0")
        if self.gas_basis not in GAS_BASES:
            raise InvalidFactorError("gas_basis", f"{self.gas_basis!r} must be 'CO2' or 'CO2e'")
        kg_per_unit = kg_per_canonical_unit(self.value, self.unit, self.resource)
        if _split_unit(self.unit)[1] != self.gas_basis:
            raise InvalidFactorError(
                "gas_basis", f"{self.gas_basis!r} contradicts the unit {self.unit!r}"
            )
        if not 1900 <= self.data_year <= 2200:
            raise InvalidFactorError("data_year", f"{self.data_year!r} is not a plausible year")
        _require_offset("valid_from", self.valid_from)
        if self.valid_to is not None:
            _require_offset("valid_to", self.valid_to)
            if self.valid_to <= self.valid_from:
                raise InvalidFactorError(
                    "valid_to", f"{self.valid_to.isoformat()} is not after valid_from"
                )
        if not self.source.strip():
            raise InvalidFactorError("source", "every factor needs a source")
        if self.status not in STATUSES:
            raise InvalidFactorError(
                "status", f"{self.status!r} is not one of {', '.join(sorted(STATUSES))}"
            )
        object.__setattr__(self, "kg_per_unit", kg_per_unit)

    def covers(self, at: datetime) -> bool:
        """Whether a reading at ``at`` falls in this factor's validity window."""
        return self.valid_from <= at and (self.valid_to is None or at < self.valid_to)


@dataclass(frozen=True)
class ResolvedFactor:
    """The factor chosen for a lookup; ``fallback_from`` names the method that was missing.

    ``fallback_from == "market_residual"`` means no residual mix is published for
    the regions, so market-based scope 2 uses this location factor instead.
    """

    factor: EmissionFactor
    fallback_from: str | None = None
    kg_per_unit: float = field(init=False)

    def __post_init__(self) -> None:
        if self.factor.kg_per_unit is None:
            raise ValueError(
                f"factor {self.factor.id!r} ({self.factor.unit}) is a reference row and "
                "cannot be applied per kWh or m³"
            )
        object.__setattr__(self, "kg_per_unit", self.factor.kg_per_unit)

    @property
    def factor_id(self) -> str:
        return self.factor.id


def resolve_factor(
    factors: Iterable[EmissionFactor],
    *,
    regions: Sequence[str],
    resource: str,
    method: str,
    at: datetime,
) -> ResolvedFactor:
    """The factor for a reading at ``at``; see the module docstring for the rule.

    Raises:
        ValueError: ``at`` has no UTC offset.
        FactorNotFound: nothing covers the regions, resource, method and time
            (for ``market_residual``: neither a residual nor a location factor).
    """
    if at.utcoffset() is None:
        raise ValueError(f"reading time {at.isoformat()} needs a UTC offset")
    usable = [
        f for f in factors if f.kg_per_unit is not None and f.resource == resource and f.covers(at)
    ]
    found = _most_specific(usable, regions, method)
    if found is not None:
        return ResolvedFactor(found)
    tried = ""
    if method == "market_residual":
        found = _most_specific(usable, regions, "location")
        if found is not None:
            return ResolvedFactor(found, fallback_from=method)
        tried = " (nor a location factor to fall back to)"
    raise FactorNotFound(regions=regions, resource=resource, method=method, at=at, tried=tried)


def _most_specific(
    candidates: Sequence[EmissionFactor], regions: Sequence[str], method: str
) -> EmissionFactor | None:
    for region in regions:
        here = [f for f in candidates if f.region == region and f.method == method]
        if here:
            return max(here, key=lambda f: (f.data_year, f.valid_from))
    return None


def _require_offset(field_name: str, moment: datetime) -> None:
    if moment.utcoffset() is None:
        raise InvalidFactorError(field_name, f"{moment.isoformat()} needs a UTC offset")
