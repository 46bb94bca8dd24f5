"""The JSON of the factor routes: every factor in force, and an operator's factor as stored."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

IsoDateTime = Annotated[
    str, Field(json_schema_extra={"format": "date-time"}, description="ISO 8601 with offset")
]


class FactorOut(BaseModel):
    """One emission factor, with where it comes from and how far it is verified."""

    model_config = ConfigDict(extra="forbid")

    id: str
    region: str = Field(description="country, grid region, province or site:<id>")
    resource: str
    method: str
    value: float = Field(description="as published, in ``unit``")
    unit: str
    kg_per_unit: float | None = Field(
        description="kg per kWh (electricity) or m³ (gas, water); null for reference-only rows"
    )
    gas_basis: str
    data_year: int
    valid_from: IsoDateTime | None
    valid_to: IsoDateTime | None = Field(description="exclusive; null: still valid")
    source: str
    status: str
    notes: str
    origin: Literal["catalogue", "operator"]


class FactorList(BaseModel):
    catalogue_version: str
    factors: list[FactorOut]
