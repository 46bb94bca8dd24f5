"""The JSON of the plant routes: sites, stored readings, register events, dead letters.

Instants are ISO 8601 strings in UTC with a ``Z``, exactly as the routes wrote them
before these models existed; the models only say so in the spec.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from app.domain.plant import Meter

IsoInstant = Annotated[
    str, Field(json_schema_extra={"format": "date-time"}, description="ISO 8601, UTC, with Z")
]


class SiteSummary(BaseModel):
    id: str
    name: str
    timezone: str = Field(description="IANA zone of the site's local periods")
    meters: int = Field(description="how many meters the site has")


class AreaRef(BaseModel):
    id: str
    name: str
    parent: str | None = Field(description="the enclosing area's id; null at the top")


class SiteDetail(BaseModel):
    id: str
    name: str
    timezone: str
    latitude: float
    longitude: float
    regions: list[str] = Field(description="factor regions, most specific first")
    areas: list[AreaRef]
    meters: list[Meter] = Field(description="each meter as the plant file declares it")


class StoredReading(BaseModel):
    """One stored reading: what the meter said (raw) and what it means."""

    time: IsoInstant
    raw_value: float
    raw_unit: str
    value: float = Field(description="canonical register value or power, multiplier applied")
    quantity: float | None = Field(description="counted since the previous reading; null: unknown")
    quality: int = Field(
        description="flags: 0 good, 1 first, 2 estimated, 4 rollover, 8 reset, "
        "16 replacement, 32 jump, 64 gap, 128 late"
    )
    seq: int | None


class MeterEvent(BaseModel):
    """A reset, rollover, replacement or jump detected on a meter's register."""

    time: IsoInstant
    kind: str
    previous_value: float | None
    value: float
    detail: str


class RejectedMessage(BaseModel):
    """A message ingestion refused, with the reason and the payload as sent."""

    id: int
    received_at: IsoInstant
    topic: str
    meter_id: str | None
    reason: str
    detail: str
    payload: str = Field(description="as received, decoded as UTF-8 (invalid bytes replaced)")
