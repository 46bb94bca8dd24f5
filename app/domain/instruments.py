"""Energy attribute certificates and carbon offsets as registry entries, with region rules.

Pure: instruments come in as values, the ledger is an immutable value that
returns a new ledger (and an audit entry) for every create or void; time and
actor are passed in. A reference is unique across certificates and offsets
(``DuplicateReferenceError``, an HTTP 409 at the edge).

Region rules (``RegionRule``, defaults in ``DEFAULT_REGION_RULES``): a region
that has rules accepts only the instrument types it lists, each optionally
only for generation up to a date. China: GEC only (NDRC/MoF/NEA document 1044,
August 2023), I-REC(E) still for generation up to 2024-12-31.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

from app.domain.basis import combine_basis
from app.domain.periods import day_bounds

CERTIFICATE_TYPES: Final = frozenset({"GEC", "I-REC(E)", "REC", "GO", "REGO", "TIGR"})
OFFSET_STANDARDS: Final = frozenset(
    {"CCER", "VCS", "Gold Standard", "CDM", "ACR", "CAR", "Puro.earth"}
)
_KWH_PER: Final = {"kWh": Decimal(1), "MWh": Decimal(1000)}
_KG_PER: Final = {"tCO2e": Decimal(1000), "kgCO2e": Decimal(1), "tCO2": Decimal(1000)}


class InstrumentError(ValueError):
    """An instrument field holds a value GreenPulse cannot accept; ``field_name`` names it."""

    def __init__(self, reference: str, field_name: str, problem: str) -> None:
        self.reference = reference
        self.field_name = field_name
        self.problem = problem
        super().__init__(f"{reference or '(no reference)'}: {field_name}: {problem}")


class DuplicateReferenceError(InstrumentError):
    """The reference is already registered (a conflict, not bad input)."""


class UnknownReferenceError(LookupError):
    """No instrument with this reference."""


@dataclass(frozen=True)
class RegionRule:
    """One accepted instrument type in a region, optionally only up to a generation date."""

    region: str
    instrument_type: str
    generation_not_after: date | None = None
    source: str = ""


DEFAULT_REGION_RULES: Final = (
    RegionRule("CN", "GEC", None, "NDRC/MoF/NEA document 1044 (Aug 2023): GEC is the sole proof"),
    RegionRule(
        "CN",
        "I-REC(E)",
        date(2024, 12, 31),
        "I-REC(E) not recognised in China for generation after 2024-12-31",
    ),
)


def parse_region_rules(rows: Iterable[Mapping[str, object]]) -> tuple[RegionRule, ...]:
    """Rules from catalogue rows ``{region, instrument_type, generation_not_after?, source}``.

    Raises:
        InstrumentError: a row lacks a field or names an unknown type.
    """
    rules = []
    for index, row in enumerate(rows):
        where = f"instrument rule #{index + 1}"
        region, kind = row.get("region"), row.get("instrument_type")
        if not isinstance(region, str) or not region:
            raise InstrumentError(where, "region", "a rule needs a region, e.g. 'CN'")
        if kind not in CERTIFICATE_TYPES:
            raise InstrumentError(where, "instrument_type", _one_of(kind, CERTIFICATE_TYPES))
        until = row.get("generation_not_after")
        if until is not None and not isinstance(until, date):
            raise InstrumentError(where, "generation_not_after", f"{until!r} is not a date")
        rules.append(RegionRule(region, str(kind), until, str(row.get("source", ""))))
    return tuple(rules)


def _one_of(value: object, allowed: Iterable[str]) -> str:
    return f"{value!r} is not one of {', '.join(sorted(allowed))}"


def _require_text(reference: str, name: str, value: str) -> None:
    if not value.strip():
        raise InstrumentError(reference, name, "must not be empty")


def _require_positive(reference: str, quantity: Decimal) -> None:
    if not isinstance(quantity, Decimal) or not quantity.is_finite() or quantity <= 0:
        raise InstrumentError(reference, "quantity", f"{quantity!r} must be a Decimal > 0")


@dataclass(frozen=True)
class Certificate:
    """A retired energy attribute certificate, claimed for the consumption of a local period.

    Dates are inclusive site-local dates: generation ``generation_first`` …
    ``generation_last``; the consumption it is claimed for ``claimed_first`` …
    ``claimed_last`` (a month, a quarter or a year).
    """

    reference: str
    instrument_type: str
    generation_first: date
    generation_last: date
    claimed_first: date
    claimed_last: date
    quantity: Decimal
    unit: str
    registry: str
    serial: str
    retired_on: date

    def __post_init__(self) -> None:
        ref = self.reference
        _require_text(ref, "reference", ref)
        if self.instrument_type not in CERTIFICATE_TYPES:
            raise InstrumentError(
                ref, "instrument_type", _one_of(self.instrument_type, CERTIFICATE_TYPES)
            )
        if self.generation_last < self.generation_first:
            raise InstrumentError(ref, "generation_last", "is before generation_first")
        if self.claimed_last < self.claimed_first:
            raise InstrumentError(ref, "claimed_last", "is before claimed_first")
        _require_positive(ref, self.quantity)
        if self.unit not in _KWH_PER:
            raise InstrumentError(ref, "unit", _one_of(self.unit, _KWH_PER))
        _require_text(ref, "registry", self.registry)
        _require_text(ref, "serial", self.serial)
        if self.retired_on < self.generation_first:
            raise InstrumentError(
                ref, "retired_on", f"{self.retired_on} is before generation began"
            )

    @property
    def kwh(self) -> Decimal:
        return self.quantity * _KWH_PER[self.unit]


def check_region_rules(
    certificate: Certificate, *, regions: Sequence[str], rules: Sequence[RegionRule]
) -> None:
    """Refuse a certificate the site's regions do not accept.

    Raises:
        InstrumentError: the type is not accepted in one of ``regions``, or only
            for generation up to a date the certificate goes past.
    """
    for region in regions:
        here = [r for r in rules if r.region == region]
        if not here:
            continue
        accepted = {r.instrument_type: r for r in here}
        rule = accepted.get(certificate.instrument_type)
        if rule is None:
            raise InstrumentError(
                certificate.reference,
                "instrument_type",
                f"{certificate.instrument_type} certificates are not accepted for sites in "
                f"{region}; accepted: {', '.join(sorted(accepted))}",
            )
        limit = rule.generation_not_after
        if limit is not None and certificate.generation_last > limit:
            raise InstrumentError(
                certificate.reference,
                "generation_last",
                f"{certificate.instrument_type} is not accepted in {region} for generation "
                f"after {limit.isoformat()}; this certificate covers generation until "
                f"{certificate.generation_last.isoformat()}"
                + (f" ({rule.source})" if rule.source else ""),
            )


@dataclass(frozen=True)
class Offset:
    """A retired carbon credit (tCO₂e unless the standard counts CO₂ only).

    ``retired_at`` is either the site-local date of retirement or an instant,
    which is turned into the site-local date (``retirement_date``).
    """

    reference: str
    standard: str
    project: str
    vintage: int
    quantity: Decimal
    unit: str
    registry: str
    serial: str
    retired_at: date | datetime
    voided_at: datetime | None = None
    void_reason: str = ""

    def __post_init__(self) -> None:
        ref = self.reference
        _require_text(ref, "reference", ref)
        if self.standard not in OFFSET_STANDARDS:
            raise InstrumentError(ref, "standard", _one_of(self.standard, OFFSET_STANDARDS))
        _require_text(ref, "project", self.project)
        if not 1990 <= self.vintage <= 2200:
            raise InstrumentError(ref, "vintage", f"{self.vintage!r} is not a plausible year")
        _require_positive(ref, self.quantity)
        if self.unit not in _KG_PER:
            raise InstrumentError(ref, "unit", _one_of(self.unit, _KG_PER))
        _require_text(ref, "registry", self.registry)
        _require_text(ref, "serial", self.serial)
        if isinstance(self.retired_at, datetime) and self.retired_at.utcoffset() is None:
            raise InstrumentError(ref, "retired_at", "an instant needs a UTC offset")
        year = self.retired_at.year
        if year < self.vintage:
            raise InstrumentError(ref, "retired_at", f"retired before its vintage {self.vintage}")

    @property
    def kg(self) -> Decimal:
        return self.quantity * _KG_PER[self.unit]

    @property
    def gas_basis(self) -> str:
        return "CO2" if self.unit == "tCO2" else "CO2e"

    @property
    def voided(self) -> bool:
        return self.voided_at is not None

    def retirement_date(self, zone: ZoneInfo) -> date:
        """The site-local date the offset counts on."""
        if isinstance(self.retired_at, datetime):
            return self.retired_at.astimezone(UTC).astimezone(zone).date()
        return self.retired_at


@dataclass(frozen=True)
class AuditEntry:
    """One create or void, as kept for the audit trail."""

    at: datetime
    actor: str
    action: str
    kind: str
    reference: str
    detail: str


@dataclass(frozen=True)
class Ledger:
    """The registered certificates and offsets, and the trail of every change."""

    certificates: tuple[Certificate, ...] = ()
    offsets: tuple[Offset, ...] = ()
    audit: tuple[AuditEntry, ...] = field(default=())

    def references(self) -> frozenset[str]:
        return frozenset(c.reference for c in self.certificates) | frozenset(
            o.reference for o in self.offsets
        )

    def _unique(self, reference: str) -> None:
        if reference in self.references():
            raise DuplicateReferenceError(reference, "reference", "is already registered")

    def add_certificate(
        self,
        certificate: Certificate,
        *,
        regions: Sequence[str],
        at: datetime,
        actor: str,
        rules: Sequence[RegionRule] = DEFAULT_REGION_RULES,
    ) -> Ledger:
        """Register a certificate after the uniqueness and region checks."""
        self._unique(certificate.reference)
        check_region_rules(certificate, regions=regions, rules=rules)
        entry = AuditEntry(
            at,
            actor,
            "create",
            "certificate",
            certificate.reference,
            f"{certificate.instrument_type} {certificate.quantity} {certificate.unit} for "
            f"{certificate.claimed_first}…{certificate.claimed_last}",
        )
        return replace(
            self,
            certificates=(*self.certificates, certificate),
            audit=(*self.audit, entry),
        )

    def add_offset(self, offset: Offset, *, at: datetime, actor: str) -> Ledger:
        """Register a retired offset."""
        self._unique(offset.reference)
        if offset.voided:
            raise InstrumentError(offset.reference, "voided_at", "register it first, then void")
        entry = AuditEntry(
            at,
            actor,
            "create",
            "offset",
            offset.reference,
            f"{offset.standard} vintage {offset.vintage}: {offset.quantity} {offset.unit}",
        )
        return replace(self, offsets=(*self.offsets, offset), audit=(*self.audit, entry))

    def void_offset(self, reference: str, *, at: datetime, actor: str, reason: str) -> Ledger:
        """Void an offset: it stays listed, counts nowhere, and the trail says why.

        Raises:
            UnknownReferenceError: no offset with this reference.
            InstrumentError: already void, or no reason given.
        """
        _require_text(reference, "void_reason", reason)
        found = next((o for o in self.offsets if o.reference == reference), None)
        if found is None:
            raise UnknownReferenceError(f"no offset with reference {reference!r}")
        if found.voided:
            raise InstrumentError(reference, "voided_at", "is already void")
        voided = replace(found, voided_at=at, void_reason=reason)
        entry = AuditEntry(at, actor, "void", "offset", reference, reason)
        return replace(
            self,
            offsets=tuple(voided if o.reference == reference else o for o in self.offsets),
            audit=(*self.audit, entry),
        )


@dataclass(frozen=True)
class OffsetTotal:
    """Offsets retired for a local period: kg, the references counted, their gas basis."""

    kg: Decimal
    references: tuple[str, ...]
    basis: str


def offsets_retired(
    offsets: Iterable[Offset], first: date, after_last: date, zone: ZoneInfo
) -> OffsetTotal:
    """Offsets (not void) whose site-local retirement date is in ``[first, after_last)``."""
    counted = [o for o in offsets if not o.voided and first <= o.retirement_date(zone) < after_last]
    return OffsetTotal(
        kg=sum((o.kg for o in counted), Decimal(0)),
        references=tuple(o.reference for o in counted),
        basis=combine_basis((o.reference, o.gas_basis) for o in counted) if counted else "CO2e",
    )


def offsets_in_period(
    offsets: Iterable[Offset], start: datetime, end: datetime, zone: ZoneInfo
) -> OffsetTotal:
    """Offsets counted in the period ``[start, end)`` (UTC instants).

    An offset counts in every period that contains its whole site-local
    retirement day: today, this month, this year, never "this hour".
    """
    counted = []
    for o in offsets:
        if o.voided:
            continue
        day_start, day_end = day_bounds(o.retirement_date(zone), zone)
        if start <= day_start and day_end <= end:
            counted.append(o)
    return OffsetTotal(
        kg=sum((o.kg for o in counted), Decimal(0)),
        references=tuple(o.reference for o in counted),
        basis=combine_basis((o.reference, o.gas_basis) for o in counted) if counted else "CO2e",
    )
