"""Certificates and offsets as registry entries, and the audit trail of every change.

A duplicate reference is 409; a value the rules refuse (region, type, dates, units,
oversize text) is 422 naming the field; an unknown site or offset is 404.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import PlantDep, SessionDep, resolve_scope
from app.api.state import StateDep
from app.auth.deps import ReadAccess, WriteAccess
from app.carbon import store
from app.carbon.models import TEXT_MAX
from app.domain.instruments import (
    AuditEntry,
    Certificate,
    DuplicateReferenceError,
    InstrumentError,
    Offset,
    UnknownReferenceError,
)

router = APIRouter(prefix="/api/v1/sites/{site_id}", tags=["instruments"])

Text = Annotated[str, Field(min_length=1, max_length=TEXT_MAX)]
Actor = Annotated[str, Field(min_length=1, max_length=64)]
Quantity = Annotated[Decimal, Field(gt=0, max_digits=30, decimal_places=6)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CertificateIn(_Body):
    """A retired certificate: generation period, the consumption period it is claimed for."""

    reference: Text
    instrument_type: Annotated[str, Field(max_length=16)]
    generation_first: date
    generation_last: date
    claimed_first: date
    claimed_last: date
    quantity: Quantity
    unit: Annotated[str, Field(max_length=8)] = "MWh"
    registry: Text
    serial: Text
    retired_on: date
    actor: Actor = "api"


class OffsetIn(_Body):
    """A retired carbon credit: standard, project, vintage, registry and serial."""

    reference: Text
    standard: Annotated[str, Field(max_length=32)]
    project: Text
    vintage: int
    quantity: Quantity
    unit: Annotated[str, Field(max_length=8)] = "tCO2e"
    registry: Text
    serial: Text
    retired_at: date | datetime = Field(
        description="the site-local retirement date, or the instant (with a UTC offset)"
    )
    actor: Actor = "api"


class VoidIn(_Body):
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    actor: Actor = "api"


def _refused(exc: InstrumentError) -> HTTPException:
    code = (
        status.HTTP_409_CONFLICT
        if isinstance(exc, DuplicateReferenceError)
        else status.HTTP_422_UNPROCESSABLE_CONTENT
    )
    return HTTPException(
        code, {"reference": exc.reference, "field": exc.field_name, "problem": exc.problem}
    )


def certificate_json(c: Certificate) -> dict[str, Any]:
    return {
        "reference": c.reference,
        "instrument_type": c.instrument_type,
        "generation_first": c.generation_first.isoformat(),
        "generation_last": c.generation_last.isoformat(),
        "claimed_first": c.claimed_first.isoformat(),
        "claimed_last": c.claimed_last.isoformat(),
        "quantity": str(c.quantity),
        "unit": c.unit,
        "kwh": str(c.kwh),
        "registry": c.registry,
        "serial": c.serial,
        "retired_on": c.retired_on.isoformat(),
    }


def offset_json(o: Offset, zone_date: date) -> dict[str, Any]:
    return {
        "reference": o.reference,
        "standard": o.standard,
        "project": o.project,
        "vintage": o.vintage,
        "quantity": str(o.quantity),
        "unit": o.unit,
        "kg": str(o.kg),
        "gas_basis": o.gas_basis,
        "registry": o.registry,
        "serial": o.serial,
        "retired_at": o.retired_at.isoformat(),
        "retired_local_date": zone_date.isoformat(),
        "voided": o.voided,
        "voided_at": o.voided_at.isoformat() if o.voided_at else None,
        "void_reason": o.void_reason or None,
    }


def audit_json(e: AuditEntry) -> dict[str, Any]:
    return {
        "at": e.at.isoformat(),
        "actor": e.actor,
        "action": e.action,
        "kind": e.kind,
        "reference": e.reference,
        "detail": e.detail,
    }


@router.get("/certificates")
def list_certificates(
    site_id: str, plant: PlantDep, session: SessionDep, _: ReadAccess
) -> list[dict[str, Any]]:
    """The site's registered certificates."""
    resolve_scope(plant, site_id)
    return [certificate_json(c) for c in store.certificates(session, site_id)]


@router.post("/certificates", status_code=status.HTTP_201_CREATED)
def add_certificate(
    site_id: str,
    body: CertificateIn,
    plant: PlantDep,
    state: StateDep,
    session: SessionDep,
    _: WriteAccess,
) -> dict[str, Any]:
    """Register a retired certificate; the region's rules decide whether it counts."""
    site = resolve_scope(plant, site_id).site
    fields = body.model_dump(exclude={"actor"})
    try:
        certificate = Certificate(**fields)
        store.add_certificate(
            session,
            site_id,
            certificate,
            regions=site.regions(),
            at=state.clock(),
            actor=body.actor,
            rules=state.catalogue.instrument_rules,
        )
    except InstrumentError as exc:
        raise _refused(exc) from exc
    return certificate_json(certificate)


@router.get("/offsets")
def list_offsets(
    site_id: str, plant: PlantDep, session: SessionDep, _: ReadAccess
) -> list[dict[str, Any]]:
    """The site's offsets, voided ones included (marked)."""
    zone = resolve_scope(plant, site_id).site.zone
    return [offset_json(o, o.retirement_date(zone)) for o in store.offsets(session, site_id)]


@router.post("/offsets", status_code=status.HTTP_201_CREATED)
def add_offset(
    site_id: str,
    body: OffsetIn,
    plant: PlantDep,
    state: StateDep,
    session: SessionDep,
    _: WriteAccess,
) -> dict[str, Any]:
    """Register a retired offset (reported beside the inventory, never netted into it)."""
    zone = resolve_scope(plant, site_id).site.zone
    try:
        offset = Offset(**body.model_dump(exclude={"actor"}))
        store.add_offset(session, site_id, offset, at=state.clock(), actor=body.actor)
    except InstrumentError as exc:
        raise _refused(exc) from exc
    return offset_json(offset, offset.retirement_date(zone))


@router.post("/offsets/{reference}/void")
def void_offset(
    site_id: str,
    reference: str,
    body: VoidIn,
    plant: PlantDep,
    state: StateDep,
    session: SessionDep,
    _: WriteAccess,
) -> dict[str, Any]:
    """Void an offset: it stays listed, counts nowhere, and the audit trail says why."""
    zone = resolve_scope(plant, site_id).site.zone
    try:
        offset = store.void_offset(
            session, site_id, reference, at=state.clock(), actor=body.actor, reason=body.reason
        )
    except UnknownReferenceError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    except InstrumentError as exc:
        raise _refused(exc) from exc
    return offset_json(offset, offset.retirement_date(zone))


@router.get("/instruments/audit")
def instrument_audit(
    site_id: str, plant: PlantDep, session: SessionDep, _: ReadAccess
) -> list[dict[str, Any]]:
    """Every create and void of the site's certificates and offsets, oldest first."""
    resolve_scope(plant, site_id)
    return [audit_json(e) for e in store.audit_trail(session, site_id)]
