"""The one JSON shape of an alert, shared by the REST API, the live figures, MQTT and webhooks.

Also the request bodies of the alert routes, and the names of what happens to an alert.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.alerts.models import AlertRow
from app.domain.plant import AlertRules


class Event:
    """What happened to an alert, as named in webhooks and engine transitions."""

    OPENED: Final = "opened"
    ACKNOWLEDGED: Final = "acknowledged"
    RESOLVED: Final = "resolved"
    UPDATED: Final = "updated"


_DETAIL_FIELDS: Final = ("since", "scope", "target_id", "acknowledge_note")


def iso(t: datetime | None) -> str | None:
    """An instant as ISO 8601 in UTC with a ``Z``."""
    return None if t is None else t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def since_of(row: AlertRow) -> datetime:
    raw = (row.details or {}).get("since")
    return datetime.fromisoformat(raw) if isinstance(raw, str) else row.opened_at


def alert_json(row: AlertRow) -> dict[str, Any]:
    details = dict(row.details or {})
    extra = {k: v for k, v in details.items() if k not in _DETAIL_FIELDS}
    resolved_auto = bool(extra.pop("resolved_automatically", False))
    return {
        "id": row.id,
        "condition_key": row.condition_key,
        "kind": row.kind,
        "severity": row.severity,
        "status": row.status,
        "site_id": row.site_id,
        "area_id": row.area_id,
        "meter_id": row.meter_id,
        "message": row.message,
        "observed": row.observed,
        "expected": row.expected,
        "threshold": row.threshold,
        "unit": row.unit,
        "since": iso(since_of(row)),
        "opened_at": iso(row.opened_at),
        "acknowledged_at": iso(row.acknowledged_at),
        "acknowledged_by": row.acknowledged_by,
        "acknowledge_note": details.get("acknowledge_note"),
        "resolved_at": iso(row.resolved_at),
        "resolved_by": row.resolved_by,
        "resolution_note": row.note,
        "resolved_automatically": resolved_auto,
        "details": extra,
    }


def webhook_body(row: AlertRow, event: str, delivery_id: str, at: datetime) -> str:
    """The exact text POSTed (and signed); compact and key-sorted, so it is stable."""
    payload = {"delivery_id": delivery_id, "event": event, "at": iso(at), "alert": alert_json(row)}
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# --- request bodies of the alert routes ------------------------------------------------


class AcknowledgeBody(BaseModel):
    by: str = Field(min_length=1, max_length=128, description="who takes the alert")
    note: str | None = Field(default=None, max_length=4000)

    @field_validator("by")
    @classmethod
    def _named(cls, by: str) -> str:
        if not by.strip():
            raise ValueError("by must name someone")
        return by.strip()


class ResolveBody(AcknowledgeBody):
    note: str = Field(min_length=1, max_length=4000, description="why it is resolved")

    @field_validator("note")
    @classmethod
    def _said(cls, note: str) -> str:
        if not note.strip():
            raise ValueError("a resolution needs a note saying why")
        return note.strip()


# --- what the alert routes answer -------------------------------------------------------

IsoInstant = Annotated[
    str, Field(json_schema_extra={"format": "date-time"}, description="ISO 8601, UTC, with Z")
]


class Alert(BaseModel):
    """An alert as every route, the live figures, MQTT and webhooks show it (``alert_json``)."""

    # a key alert_json gains must be declared here too: the routes refuse to hide it
    model_config = ConfigDict(extra="forbid")

    id: int
    condition_key: str
    kind: str
    severity: str
    status: str
    site_id: str
    area_id: str | None
    meter_id: str | None
    message: str
    observed: float | None
    expected: float | None
    threshold: float | None
    unit: str | None
    since: IsoInstant = Field(description="when the condition began")
    opened_at: IsoInstant
    acknowledged_at: IsoInstant | None
    acknowledged_by: str | None
    acknowledge_note: str | None
    resolved_at: IsoInstant | None
    resolved_by: str | None
    resolution_note: str | None
    resolved_automatically: bool
    details: dict[str, Any] = Field(description="what the condition measured, by name")

    @classmethod
    def of(cls, row: AlertRow) -> Alert:
        return cls.model_validate(alert_json(row))


class RuleValues(BaseModel):
    """Every rule field resolved to a value (``EffectiveRules``)."""

    spike_sigma: float
    spike_abs_kw: float | None
    spike_min_excess_kw: float
    spike_min_duration_s: float
    offline_missed_intervals: int
    pv_shortfall_ratio: float
    enabled: bool


class RuleOverride(BaseModel):
    """A runtime override of one level; only the fields it sets."""

    scope: Literal["site", "area", "meter"]
    target_id: str = Field(description="a site or meter id, or site/area for an area")
    rules: AlertRules


class AreaRules(BaseModel):
    site_id: str
    area_id: str
    rules: RuleValues


class MeterRules(BaseModel):
    site_id: str
    area_id: str
    meter_id: str
    resource: str
    rules: RuleValues


class EffectiveRulesReport(BaseModel):
    """The defaults, the overrides and the rules in force for every area and meter."""

    defaults: RuleValues
    overrides: list[RuleOverride]
    areas: list[AreaRules]
    meters: list[MeterRules]
