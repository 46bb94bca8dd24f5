"""Standard coal equivalent (GB/T 2589-2020): every energy carrier in kgce and tce.

Pure: coefficients come in as values (``app.energy.catalogue`` reads the YAML),
the period's time is passed in. 1 kgce = 29,307.6 kJ (7,000 kcal); 1 tce = 1,000 kgce.

Electricity has two methods the standard defines, and the method travels with
every figure: ``calorific_equivalent`` (3,600 kJ/kWh, the standard's 0.1229
kgce/kWh) and ``equivalent_value`` (the grid's coal burnt per kWh supplied, a
yearly figure). Gas uses the supplier's declared lower heating value when the
operator gives one (``coefficient_from_heating_value``), otherwise the
reference coefficient. Water and other energy-carrying media use the
coefficient the operator configures.

Resolution rule (``resolve_coefficient``): among the coefficients of the wanted
carrier and method whose window ``[valid_from, valid_to)`` covers the time, a
site-scoped one (``scope == "site:<id>"``) wins over a general one; then the
latest ``valid_from``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

KJ_PER_KGCE: Final = 29_307.6
KGCE_PER_TCE: Final = 1_000.0
KJ_PER_KWH: Final = 3_600.0

CARRIERS: Final = frozenset(
    {"electricity", "gas", "water", "steam", "compressed_air", "softened_water"}
)
CARRIER_UNIT: Final[dict[str, str]] = {
    "electricity": "kWh",
    "gas": "m3",
    "water": "m3",
    "steam": "kg",
    "compressed_air": "m3",
    "softened_water": "m3",
}
METHODS_BY_CARRIER: Final[dict[str, frozenset[str]]] = {
    "electricity": frozenset({"calorific_equivalent", "equivalent_value"}),
    "gas": frozenset({"reference", "declared_heating_value"}),
}
DEFAULT_METHOD: Final[dict[str, str]] = {"electricity": "calorific_equivalent", "gas": "reference"}
MEDIUM_METHOD: Final = "configured"
STATUSES: Final = frozenset({"published", "secondary", "unverified", "derived"})

_ID_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SCOPE_RE: Final = re.compile(r"^(general|site:[A-Za-z0-9][A-Za-z0-9._-]*)$")


class InvalidCoefficientError(ValueError):
    """A coefficient field holds a value GreenPulse cannot use; ``field_name`` names it."""

    def __init__(self, field_name: str, problem: str) -> None:
        self.field_name = field_name
        self.problem = problem
        super().__init__(f"{field_name}: {problem}")


class CoefficientNotFound(LookupError):  # noqa: N818 (reads as what it is)
    """No coefficient covers the carrier, method and time."""

    def __init__(self, carrier: str, method: str, at: datetime) -> None:
        self.carrier = carrier
        self.method = method
        self.at = at
        super().__init__(
            f"no standard-coal coefficient for {carrier} with method {method!r} valid at "
            f"{at.isoformat()}; add one to the coefficient catalogue or the site's energy file"
        )


def methods_for(carrier: str) -> frozenset[str]:
    """The conversion methods a carrier allows (media: only ``configured``)."""
    return METHODS_BY_CARRIER.get(carrier, frozenset({MEDIUM_METHOD}))


@dataclass(frozen=True)
class CoalCoefficient:
    """kgce per unit of one carrier (kWh, m³ or kg), with its provenance.

    ``scope`` is ``general`` or ``site:<site_id>``. Validity is the half-open window
    ``[valid_from, valid_to)``; ``valid_to`` None leaves it open.
    """

    id: str
    carrier: str
    method: str
    kgce_per_unit: float
    unit: str
    valid_from: datetime
    valid_to: datetime | None
    source: str
    status: str
    scope: str = "general"
    notes: str = ""

    def __post_init__(self) -> None:
        if not _ID_RE.match(self.id):
            raise InvalidCoefficientError("id", f"{self.id!r} must be letters, digits, '.-_'")
        if self.carrier not in CARRIERS:
            raise InvalidCoefficientError(
                "carrier", f"{self.carrier!r} is not one of {', '.join(sorted(CARRIERS))}"
            )
        allowed = methods_for(self.carrier)
        if self.method not in allowed:
            raise InvalidCoefficientError(
                "method",
                f"{self.method!r} does not apply to {self.carrier}; "
                f"use {', '.join(sorted(allowed))}",
            )
        if not math.isfinite(self.kgce_per_unit) or self.kgce_per_unit <= 0:
            raise InvalidCoefficientError(
                "kgce_per_unit", f"{self.kgce_per_unit!r} must be a finite number > 0"
            )
        wanted = f"kgce/{CARRIER_UNIT[self.carrier]}"
        if self.unit.replace("³", "3") != wanted:
            raise InvalidCoefficientError(
                "unit", f"{self.unit!r}: a {self.carrier} coefficient is in {wanted}"
            )
        if not _SCOPE_RE.match(self.scope):
            raise InvalidCoefficientError(
                "scope", f"{self.scope!r} must be 'general' or 'site:<id>'"
            )
        for name, moment in (("valid_from", self.valid_from), ("valid_to", self.valid_to)):
            if moment is not None and moment.utcoffset() is None:
                raise InvalidCoefficientError(name, f"{moment.isoformat()} needs a UTC offset")
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise InvalidCoefficientError("valid_to", "must be after valid_from")
        if not self.source.strip():
            raise InvalidCoefficientError("source", "every coefficient needs a source")
        if self.status not in STATUSES:
            raise InvalidCoefficientError(
                "status", f"{self.status!r} is not one of {', '.join(sorted(STATUSES))}"
            )

    def covers(self, at: datetime) -> bool:
        """Whether ``at`` falls in this coefficient's validity window."""
        return self.valid_from <= at and (self.valid_to is None or at < self.valid_to)


def kgce_per_kwh_calorific() -> float:
    """Electricity at its calorific equivalent, unrounded: 3,600 kJ ÷ 29,307.6 kJ/kgce."""
    return KJ_PER_KWH / KJ_PER_KGCE


def kgce_per_m3_from_heating_value(lower_heating_value_kj_per_m3: float) -> float:
    """A gas's kgce per m³ from its lower heating value: LHV ÷ 29,307.6."""
    if not math.isfinite(lower_heating_value_kj_per_m3) or lower_heating_value_kj_per_m3 <= 0:
        raise ValueError(f"heating value must be > 0 kJ/m³, got {lower_heating_value_kj_per_m3!r}")
    return lower_heating_value_kj_per_m3 / KJ_PER_KGCE


def coefficient_from_heating_value(
    *,
    id: str,
    lower_heating_value_kj_per_m3: float,
    valid_from: datetime,
    valid_to: datetime | None,
    source: str,
    scope: str = "general",
) -> CoalCoefficient:
    """A ``derived`` gas coefficient from the supplier's declared lower heating value."""
    value = kgce_per_m3_from_heating_value(lower_heating_value_kj_per_m3)
    return CoalCoefficient(
        id=id,
        carrier="gas",
        method="declared_heating_value",
        kgce_per_unit=value,
        unit="kgce/m3",
        valid_from=valid_from,
        valid_to=valid_to,
        source=source,
        status="derived",
        scope=scope,
        notes=f"{lower_heating_value_kj_per_m3:g} kJ/m³ ÷ {KJ_PER_KGCE:g} kJ/kgce = {value:.4f}",
    )


def resolve_coefficient(
    coefficients: Iterable[CoalCoefficient],
    *,
    carrier: str,
    at: datetime,
    method: str | None = None,
    site_id: str | None = None,
) -> CoalCoefficient:
    """The coefficient for ``carrier`` at ``at``; see the module docstring for the rule.

    ``method`` None takes the carrier's default (calorific equivalent, reference
    gas coefficient, ``configured`` for media).

    Raises:
        ValueError: ``at`` has no UTC offset.
        CoefficientNotFound: nothing covers the carrier, method and time.
    """
    if at.utcoffset() is None:
        raise ValueError(f"time {at.isoformat()} needs a UTC offset")
    wanted = method or DEFAULT_METHOD.get(carrier, MEDIUM_METHOD)
    scopes = ([f"site:{site_id}"] if site_id else []) + ["general"]
    usable = [
        c for c in coefficients if c.carrier == carrier and c.method == wanted and c.covers(at)
    ]
    for scope in scopes:
        here = [c for c in usable if c.scope == scope]
        if here:
            return max(here, key=lambda c: c.valid_from)
    raise CoefficientNotFound(carrier, wanted, at)


@dataclass(frozen=True)
class KgceLine:
    """One carrier's quantity turned into kgce by one coefficient."""

    carrier: str
    quantity: float
    unit: str
    coefficient_id: str
    method: str
    kgce_per_unit: float
    kgce: float


@dataclass(frozen=True)
class ComprehensiveEnergy:
    """Comprehensive energy consumption of one boundary and period (GB/T 2589-2020).

    ``coefficient_ids`` lists every coefficient the total used; ``notes`` flag
    unverified coefficients and the electricity method.
    """

    lines: tuple[KgceLine, ...]
    total_kgce: float
    coefficient_ids: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def total_tce(self) -> float:
        return self.total_kgce / KGCE_PER_TCE

    def per_unit(self, production_units: float) -> float | None:
        """kgce per unit of product; None when nothing was produced."""
        return None if production_units <= 0 else self.total_kgce / production_units


def comprehensive_energy(
    quantities: Mapping[str, float], coefficients: Mapping[str, CoalCoefficient]
) -> ComprehensiveEnergy:
    """Sum each carrier's quantity × its coefficient.

    Args:
        quantities: carrier → quantity in the carrier's unit (kWh, m³, kg).
        coefficients: carrier → the resolved coefficient (``resolve_coefficient``).
            A carrier with a quantity must have a coefficient: comprehensive energy
            with a silently missing carrier would be too low.

    Raises:
        ValueError: a quantity is negative or not finite, or a carrier with a
            quantity has no coefficient.
    """
    lines: list[KgceLine] = []
    notes: list[str] = []
    for carrier, quantity in quantities.items():
        if not math.isfinite(quantity) or quantity < 0:
            raise ValueError(f"{carrier} quantity must be a finite number ≥ 0, got {quantity!r}")
        coefficient = coefficients.get(carrier)
        if coefficient is None:
            if quantity == 0:
                continue
            raise ValueError(f"{quantity:g} of {carrier} used but no kgce coefficient resolved")
        if coefficient.carrier != carrier:
            raise ValueError(f"coefficient {coefficient.id!r} is for {coefficient.carrier}")
        lines.append(
            KgceLine(
                carrier=carrier,
                quantity=quantity,
                unit=CARRIER_UNIT[carrier],
                coefficient_id=coefficient.id,
                method=coefficient.method,
                kgce_per_unit=coefficient.kgce_per_unit,
                kgce=quantity * coefficient.kgce_per_unit,
            )
        )
        if coefficient.status == "unverified":
            notes.append(f"coefficient {coefficient.id} is unverified: check it before reporting")
        if carrier == "electricity":
            notes.append(
                f"electricity converted by the {coefficient.method.replace('_', ' ')} method"
            )
    return ComprehensiveEnergy(
        lines=tuple(lines),
        total_kgce=math.fsum(line.kgce for line in lines),
        coefficient_ids=tuple(dict.fromkeys(line.coefficient_id for line in lines)),
        notes=tuple(notes),
    )
