"""Emission factors: the catalogue in force, and operator overrides per site."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.deps import SessionDep
from app.api.state import StateDep
from app.auth.deps import ReadAccess, WriteAccess
from app.carbon.catalogue import CatalogueError, factor_from_mapping
from app.carbon.factor_schemas import FactorList, FactorOut
from app.db.models import EmissionFactorRow
from app.domain.factors import EmissionFactor, InvalidFactorError

router = APIRouter(prefix="/api/v1/factors", tags=["factors"])


class FactorIn(BaseModel):
    """An operator's factor; a ``site:<id>`` region makes it apply to that site only."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.:-]{0,127}$")
    region: str = Field(min_length=1, max_length=64)
    resource: Literal["electricity", "gas", "water"]
    method: Literal["location", "market_residual", "fuel", "supply"]
    value: float = Field(ge=0)
    unit: str = Field(min_length=1, max_length=32)
    gas_basis: Literal["CO2", "CO2e"]
    data_year: int = Field(ge=1900, le=9000)
    valid_from: date
    valid_to: date | None = None
    source: str = Field(min_length=3, max_length=2000)
    status: Literal["published", "secondary", "unverified", "derived"] = "unverified"
    notes: str = Field(default="", max_length=4000)


def _json(f: EmissionFactor, origin: str) -> dict[str, Any]:
    return {
        "id": f.id,
        "region": f.region,
        "resource": f.resource,
        "method": f.method,
        "value": f.value,
        "unit": f.unit,
        "kg_per_unit": f.kg_per_unit,
        "gas_basis": f.gas_basis,
        "data_year": f.data_year,
        "valid_from": f.valid_from.isoformat() if f.valid_from else None,
        "valid_to": f.valid_to.isoformat() if f.valid_to else None,
        "source": f.source,
        "status": f.status,
        "notes": f.notes,
        "origin": origin,
    }


def operator_factors(session: Session) -> list[EmissionFactor]:
    rows = session.scalars(select(EmissionFactorRow).where(EmissionFactorRow.origin == "operator"))
    return [_from_row(r) for r in rows]


def _from_row(row: EmissionFactorRow) -> EmissionFactor:
    """A stored operator factor, validated exactly as a file row or an API body is."""
    fields = {name: getattr(row, name) for name in FactorIn.model_fields}
    return factor_from_mapping(
        {k: v for k, v in fields.items() if v is not None}, source="database"
    )


def _factor(body: FactorIn) -> EmissionFactor:
    row = {k: v for k, v in body.model_dump().items() if v is not None}
    return factor_from_mapping(row, source="api")


@router.get("")
def list_factors(state: StateDep, session: SessionDep, _: ReadAccess) -> FactorList:
    """Every factor in force, operator factors marked, with source and verification status."""
    catalogue = state.catalogue
    operator = operator_factors(session)
    replaced = {f.id for f in operator}
    rows = [_json(f, "catalogue") for f in catalogue.factors if f.id not in replaced]
    rows += [_json(f, "operator") for f in operator]
    return FactorList.model_validate({"catalogue_version": catalogue.version, "factors": rows})


@router.put("/{factor_id}", status_code=status.HTTP_200_OK)
def put_factor(
    factor_id: str, body: FactorIn, state: StateDep, session: SessionDep, _: WriteAccess
) -> FactorOut:
    """Add or replace an operator factor (same id as a catalogue factor overrides it)."""
    if body.id != factor_id:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "id in body and URL differ")
    try:
        factor = _factor(body)
    except (CatalogueError, InvalidFactorError, ValueError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    session.merge(
        EmissionFactorRow(
            **body.model_dump(), kg_per_unit=factor.kg_per_unit or 0.0, origin="operator"
        )
    )
    session.flush()
    state.refresh_factors(session)
    return FactorOut.model_validate(_json(factor, "operator"))
