"""The one JSON shape of an alert, shared by the REST API, the live figures, MQTT and webhooks.

Also the request bodies of the alert routes, and the names of what happens to an alert.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import BaseModel, Field, field_validator

from app.alerts.models import AlertRow


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
