"""The instruments registry in the database: read as domain values, changed with an audit line.

Takes a ``Session`` the caller owns; nothing here commits. A reference is unique across
certificates and offsets of every site (``DuplicateReferenceError``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.carbon.models import CertificateRow, InstrumentAuditRow, OffsetRow
from app.domain.instruments import (
    DEFAULT_REGION_RULES,
    AuditEntry,
    Certificate,
    DuplicateReferenceError,
    InstrumentError,
    Offset,
    RegionRule,
    UnknownReferenceError,
    check_region_rules,
)


def certificate_of(row: CertificateRow) -> Certificate:
    return Certificate(
        reference=row.reference,
        instrument_type=row.instrument_type,
        generation_first=row.generation_first,
        generation_last=row.generation_last,
        claimed_first=row.claimed_first,
        claimed_last=row.claimed_last,
        quantity=Decimal(row.quantity),
        unit=row.unit,
        registry=row.registry_name,
        serial=row.serial,
        retired_on=row.retired_on,
    )


def offset_of(row: OffsetRow) -> Offset:
    retired = row.retired_at if row.retired_at is not None else row.retired_on
    assert retired is not None  # one of the two is always stored
    return Offset(
        reference=row.reference,
        standard=row.standard,
        project=row.project,
        vintage=row.vintage,
        quantity=Decimal(row.quantity),
        unit=row.unit,
        registry=row.registry_name,
        serial=row.serial,
        retired_at=retired,
        voided_at=row.voided_at,
        void_reason=row.void_reason,
    )


def certificates(session: Session, site_id: str) -> list[Certificate]:
    rows = session.scalars(
        select(CertificateRow).where(CertificateRow.site_id == site_id).order_by(CertificateRow.id)
    )
    return [certificate_of(r) for r in rows]


def offsets(session: Session, site_id: str) -> list[Offset]:
    rows = session.scalars(
        select(OffsetRow).where(OffsetRow.site_id == site_id).order_by(OffsetRow.id)
    )
    return [offset_of(r) for r in rows]


def audit_trail(session: Session, site_id: str) -> list[AuditEntry]:
    rows = session.scalars(
        select(InstrumentAuditRow)
        .where(InstrumentAuditRow.site_id == site_id)
        .order_by(InstrumentAuditRow.id)
    )
    return [AuditEntry(r.at, r.actor, r.action, r.kind, r.reference, r.detail) for r in rows]


def _unique(session: Session, reference: str) -> None:
    taken = session.scalar(
        select(CertificateRow.id).where(CertificateRow.reference == reference)
    ) or session.scalar(select(OffsetRow.id).where(OffsetRow.reference == reference))
    if taken is not None:
        raise DuplicateReferenceError(reference, "reference", "is already registered")


def _audit(session: Session, site_id: str, entry: AuditEntry) -> None:
    session.add(
        InstrumentAuditRow(
            site_id=site_id,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            kind=entry.kind,
            reference=entry.reference,
            detail=entry.detail,
        )
    )


def add_certificate(
    session: Session,
    site_id: str,
    certificate: Certificate,
    *,
    regions: Sequence[str],
    at: datetime,
    actor: str,
    rules: Sequence[RegionRule] = DEFAULT_REGION_RULES,
) -> None:
    """Register a certificate after the uniqueness and region checks, with an audit line.

    Raises:
        DuplicateReferenceError: the reference is registered already.
        InstrumentError: the site's regions do not accept it.
    """
    _unique(session, certificate.reference)
    check_region_rules(certificate, regions=regions, rules=rules)
    c = certificate
    session.add(
        CertificateRow(
            site_id=site_id,
            reference=c.reference,
            instrument_type=c.instrument_type,
            generation_first=c.generation_first,
            generation_last=c.generation_last,
            claimed_first=c.claimed_first,
            claimed_last=c.claimed_last,
            quantity=str(c.quantity),
            unit=c.unit,
            registry_name=c.registry,
            serial=c.serial,
            retired_on=c.retired_on,
            created_at=at,
        )
    )
    detail = (
        f"{c.instrument_type} {c.quantity} {c.unit}, generation {c.generation_first}…"
        f"{c.generation_last}, claimed for {c.claimed_first}…{c.claimed_last}"
    )
    _audit(session, site_id, AuditEntry(at, actor, "create", "certificate", c.reference, detail))
    session.flush()


def add_offset(session: Session, site_id: str, offset: Offset, *, at: datetime, actor: str) -> None:
    """Register a retired offset, with an audit line.

    Raises:
        DuplicateReferenceError: the reference is registered already.
        InstrumentError: it arrives void.
    """
    _unique(session, offset.reference)
    if offset.voided:
        raise InstrumentError(offset.reference, "voided_at", "register it first, then void")
    o = offset
    instant = o.retired_at if isinstance(o.retired_at, datetime) else None
    session.add(
        OffsetRow(
            site_id=site_id,
            reference=o.reference,
            standard=o.standard,
            project=o.project,
            vintage=o.vintage,
            quantity=str(o.quantity),
            unit=o.unit,
            registry_name=o.registry,
            serial=o.serial,
            retired_on=None if instant is not None else o.retired_at,
            retired_at=instant,
            void_reason="",
            created_at=at,
        )
    )
    detail = f"{o.standard} {o.project} vintage {o.vintage}: {o.quantity} {o.unit}"
    _audit(session, site_id, AuditEntry(at, actor, "create", "offset", o.reference, detail))
    session.flush()


def void_offset(
    session: Session, site_id: str, reference: str, *, at: datetime, actor: str, reason: str
) -> Offset:
    """Void an offset: it stays listed, counts nowhere, and the trail says why.

    Raises:
        UnknownReferenceError: no offset of this site with this reference.
        InstrumentError: already void, or no reason given.
    """
    if not reason.strip():
        raise InstrumentError(reference, "reason", "a void needs a reason")
    row = session.scalar(
        select(OffsetRow).where(OffsetRow.site_id == site_id, OffsetRow.reference == reference)
    )
    if row is None:
        raise UnknownReferenceError(f"no offset with reference {reference!r} at site {site_id!r}")
    if row.voided_at is not None:
        raise InstrumentError(reference, "voided_at", "is already void")
    row.voided_at = at
    row.void_reason = reason
    _audit(session, site_id, AuditEntry(at, actor, "void", "offset", reference, reason))
    session.flush()
    return offset_of(row)
