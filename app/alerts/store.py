"""Alert rows, their transitions and the webhook outbox: queries that never commit.

Every transition goes through the domain (``app.domain.alerts``) for validation and is
written together with its outbox rows in the caller's transaction, so a notification
is never lost and never sent for a change that rolled back. Rows are locked for the
change (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite has a single writer), and the
partial unique index on ``condition_key`` keeps one unresolved alert per condition
whichever process raced to open it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.alerts.models import AlertCursorRow, AlertDeliveryRow, AlertRow, AlertRuleOverrideRow
from app.domain.alerts import (
    Alert,
    AlertCandidate,
    AlertKind,
    AlertScope,
    AlertStatus,
    Severity,
    acknowledge,
    resolve,
)

ACTIVE: Final = (AlertStatus.OPEN.value, AlertStatus.ACKNOWLEDGED.value)
MAX_OPEN_LISTED: Final = 5000
"""Upper bound on unresolved alerts read at once (memory stays bounded however many)."""


class AlertNotFound(LookupError):  # noqa: N818 - reads as what the API answers: 404
    """No alert with that id."""


class Event:
    """What happened to an alert, as named in webhooks and engine transitions."""

    OPENED: Final = "opened"
    ACKNOWLEDGED: Final = "acknowledged"
    RESOLVED: Final = "resolved"
    UPDATED: Final = "updated"


@dataclass(frozen=True, slots=True)
class Target:
    """Where an alert belongs; ``area_id`` is the plain area id (not ``site/area``)."""

    site_id: str
    area_id: str | None = None
    meter_id: str | None = None


# --- JSON shapes shared by the REST API, MQTT and webhooks -------------------------------

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


def to_domain(row: AlertRow) -> Alert:
    details = row.details or {}
    note = details.get("acknowledge_note")
    return Alert(
        kind=AlertKind(row.kind),
        scope=AlertScope(str(details.get("scope", AlertScope.METER.value))),
        target_id=str(details.get("target_id", row.meter_id or row.area_id or row.site_id)),
        severity=Severity(row.severity),
        message=row.message,
        opened_at=row.opened_at,
        since=since_of(row),
        status=AlertStatus(row.status),
        id=row.id,
        observed=row.observed,
        expected=row.expected,
        threshold=row.threshold,
        unit=row.unit,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        acknowledge_note=str(note) if note is not None else None,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
        resolution_note=row.note,
        resolved_automatically=bool(details.get("resolved_automatically", False)),
    )


# --- reading ----------------------------------------------------------------------------


def get_alert(session: Session, alert_id: int) -> AlertRow | None:
    return session.get(AlertRow, alert_id)


def unresolved(session: Session, site_id: str | None = None) -> list[AlertRow]:
    """Open and acknowledged alerts, newest first (bounded)."""
    query = select(AlertRow).where(AlertRow.status.in_(ACTIVE))
    if site_id is not None:
        query = query.where(AlertRow.site_id == site_id)
    query = query.order_by(AlertRow.opened_at.desc(), AlertRow.id.desc()).limit(MAX_OPEN_LISTED)
    return list(session.scalars(query))


def list_alerts(
    session: Session,
    *,
    site: str | None = None,
    status: str | None = None,
    kind: str | None = None,
    severity: str | None = None,
    meter: str | None = None,
    area: str | None = None,
    since: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> Sequence[AlertRow]:
    """History, newest first; ``status='active'`` means open or acknowledged."""
    query = select(AlertRow)
    if site is not None:
        query = query.where(AlertRow.site_id == site)
    if status == "active":
        query = query.where(AlertRow.status.in_(ACTIVE))
    elif status is not None:
        query = query.where(AlertRow.status == status)
    if kind is not None:
        query = query.where(AlertRow.kind == kind)
    if severity is not None:
        query = query.where(AlertRow.severity == severity)
    if meter is not None:
        query = query.where(AlertRow.meter_id == meter)
    if area is not None:
        query = query.where(AlertRow.area_id == area)
    if since is not None:
        query = query.where(AlertRow.opened_at >= since)
    if before_id is not None:
        query = query.where(AlertRow.id < before_id)
    query = query.order_by(AlertRow.opened_at.desc(), AlertRow.id.desc()).limit(limit)
    return session.scalars(query).all()


def _locked_active(session: Session, condition_key: str) -> AlertRow | None:
    return session.scalars(
        select(AlertRow)
        .where(AlertRow.condition_key == condition_key, AlertRow.status.in_(ACTIVE))
        .with_for_update()
    ).first()


def _locked(session: Session, alert_id: int) -> AlertRow:
    row = session.scalars(select(AlertRow).where(AlertRow.id == alert_id).with_for_update()).first()
    if row is None:
        raise AlertNotFound(f"no alert {alert_id}")
    return row


# --- transitions (each writes its outbox rows) --------------------------------------------


def insert_alert(
    session: Session,
    candidate: AlertCandidate,
    target: Target,
    *,
    now: datetime,
    webhook_urls: Sequence[str] = (),
    details: Mapping[str, Any] | None = None,
) -> AlertRow | None:
    """Open an alert for the candidate's condition; ``None`` when one is already open.

    The insert runs in a savepoint: losing the race on the unique index (another
    engine opened it first) rolls back only this insert, and means "already open".
    """
    alert = candidate.open(now=now)
    row = AlertRow(
        condition_key=alert.condition_key,
        kind=alert.kind.value,
        severity=alert.severity.value,
        status=AlertStatus.OPEN.value,
        site_id=target.site_id,
        area_id=target.area_id,
        meter_id=target.meter_id,
        message=alert.message,
        observed=_figure(alert.observed),
        expected=_figure(alert.expected),
        threshold=_figure(alert.threshold),
        unit=alert.unit,
        opened_at=alert.opened_at,
        details={
            **(details or {}),
            "since": iso(alert.since),
            "scope": alert.scope.value,
            "target_id": alert.target_id,
        },
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    enqueue(session, row, Event.OPENED, now=now, webhook_urls=webhook_urls)
    return row


def _figure(value: float | None) -> float | None:
    """Register arithmetic leaves float dust (400.00000000029 kW); people read these."""
    return None if value is None else round(value, 3)


def acknowledge_alert(
    session: Session,
    alert_id: int,
    *,
    by: str,
    now: datetime,
    note: str | None = None,
    webhook_urls: Sequence[str] = (),
) -> AlertRow:
    """Raises AlertNotFound, InvalidTransition (already acknowledged or resolved)."""
    row = _locked(session, alert_id)
    done = acknowledge(to_domain(row), by=by, now=now, note=note)
    row.status = done.status.value
    row.acknowledged_at = done.acknowledged_at
    row.acknowledged_by = done.acknowledged_by
    row.details = {**(row.details or {}), "acknowledge_note": note}
    session.flush()
    enqueue(session, row, Event.ACKNOWLEDGED, now=now, webhook_urls=webhook_urls)
    return row


def resolve_alert(
    session: Session,
    alert_id: int,
    *,
    now: datetime,
    by: str | None = None,
    note: str | None = None,
    automatic: bool = False,
    webhook_urls: Sequence[str] = (),
) -> AlertRow:
    """By hand (``by`` and ``note`` required) or automatically.

    Raises AlertNotFound, InvalidTransition (already resolved), ValueError.
    """
    return _resolve(
        session, _locked(session, alert_id), now, by, note, automatic, webhook_urls, None
    )


def resolve_condition(
    session: Session,
    condition_key: str,
    *,
    now: datetime,
    note: str,
    webhook_urls: Sequence[str] = (),
    details: Mapping[str, Any] | None = None,
) -> AlertRow | None:
    """Resolve the condition's unresolved alert automatically; ``None`` when there is none
    (resolved by hand already, or by another engine)."""
    row = _locked_active(session, condition_key)
    if row is None:
        return None
    return _resolve(session, row, now, None, note, True, webhook_urls, details)


def _resolve(
    session: Session,
    row: AlertRow,
    now: datetime,
    by: str | None,
    note: str | None,
    automatic: bool,
    webhook_urls: Sequence[str],
    details: Mapping[str, Any] | None,
) -> AlertRow:
    done = resolve(to_domain(row), now=now, by=by, note=note, automatic=automatic)
    row.status = done.status.value
    row.resolved_at = done.resolved_at
    row.resolved_by = done.resolved_by
    row.note = done.resolution_note
    row.details = {**(row.details or {}), **(details or {}), "resolved_automatically": automatic}
    session.flush()
    enqueue(session, row, Event.RESOLVED, now=now, webhook_urls=webhook_urls)
    return row


MAX_EVENTS_KEPT: Final = 20
"""Register events remembered in one informational alert (the newest are kept)."""


def add_register_event(
    session: Session,
    candidate: AlertCandidate,
    target: Target,
    event: Mapping[str, Any],
    *,
    now: datetime,
    webhook_urls: Sequence[str] = (),
) -> tuple[AlertRow, str] | None:
    """Open an informational alert for a register event, or add the event to the
    meter's one that is still open (a flapping register pages once, not per reading).

    Returns the row and what happened (``opened`` or ``updated``).
    """
    stamp = {"last_event_at": iso(now), "events": [dict(event)], "event_count": 1}
    row = _locked_active(session, candidate.condition_key)
    if row is None:
        opened = insert_alert(
            session, candidate, target, now=now, webhook_urls=webhook_urls, details=stamp
        )
        if opened is not None:
            return opened, Event.OPENED
        row = _locked_active(session, candidate.condition_key)
        if row is None:  # opened and resolved between the two statements
            return None
    details = dict(row.details or {})
    kept = details.get("events")
    events = [*(kept if isinstance(kept, list) else []), dict(event)][-MAX_EVENTS_KEPT:]
    counted = details.get("event_count")
    count = (counted if isinstance(counted, int) else 1) + 1
    row.details = {**details, "events": events, "event_count": count, "last_event_at": iso(now)}
    row.message = f"{candidate.message} ({count} register events since this alert opened)"
    session.flush()
    enqueue(session, row, Event.UPDATED, now=now, webhook_urls=webhook_urls)
    return row, Event.UPDATED


# --- the webhook outbox ---------------------------------------------------------------------


def enqueue(
    session: Session,
    row: AlertRow,
    event: str,
    *,
    now: datetime,
    webhook_urls: Sequence[str],
) -> None:
    """One outbox row per configured URL, in the caller's transaction."""
    for url in webhook_urls:
        delivery_id = str(uuid.uuid4())
        session.add(
            AlertDeliveryRow(
                delivery_id=delivery_id,
                alert_id=row.id,
                event=event,
                url=url,
                body=webhook_body(row, event, delivery_id, now),
                attempts=0,
                created_at=now,
                next_attempt_at=now,
            )
        )
    if webhook_urls:
        session.flush()


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    id: int
    delivery_id: str
    event: str
    url: str
    body: str
    attempt: int
    """1 for the first try."""


def _rowcount(result: object) -> int:
    return int(cast("CursorResult[Any]", result).rowcount)


def claim_deliveries(
    session: Session, *, now: datetime, limit: int, lease_s: float
) -> list[ClaimedDelivery]:
    """Take due deliveries: count the attempt and push ``next_attempt_at`` out by the lease.

    Compare-and-set on ``attempts``, so of several engines one takes each delivery; if
    the taker dies mid-request, the delivery is due again when the lease runs out.
    """
    rows = session.scalars(
        select(AlertDeliveryRow)
        .where(AlertDeliveryRow.next_attempt_at <= now, AlertDeliveryRow.delivered_at.is_(None))
        .order_by(AlertDeliveryRow.next_attempt_at, AlertDeliveryRow.id)
        .limit(limit)
    ).all()
    claimed: list[ClaimedDelivery] = []
    for row in rows:
        result = session.execute(
            update(AlertDeliveryRow)
            .where(
                AlertDeliveryRow.id == row.id,
                AlertDeliveryRow.attempts == row.attempts,
                AlertDeliveryRow.delivered_at.is_(None),
            )
            .values(attempts=row.attempts + 1, next_attempt_at=now + timedelta(seconds=lease_s))
            .execution_options(synchronize_session=False)
        )
        if _rowcount(result) == 1:
            claimed.append(
                ClaimedDelivery(
                    row.id, row.delivery_id, row.event, row.url, row.body, row.attempts + 1
                )
            )
    return claimed


def record_delivery(
    session: Session,
    delivery: ClaimedDelivery,
    *,
    now: datetime,
    error: str | None,
    next_attempt_at: datetime | None,
) -> None:
    """Store one attempt's outcome (``error`` None = delivered); ignored if the lease was
    lost and another engine has taken the delivery since."""
    values: dict[str, Any]
    if error is None:
        values = {"delivered_at": now, "next_attempt_at": None, "last_error": None}
    else:
        values = {
            "last_error": error[:1000],
            "next_attempt_at": next_attempt_at,
        }
    session.execute(
        update(AlertDeliveryRow)
        .where(
            AlertDeliveryRow.id == delivery.id,
            AlertDeliveryRow.attempts == delivery.attempt,
            AlertDeliveryRow.delivered_at.is_(None),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def deliveries_for(session: Session, alert_id: int) -> list[AlertDeliveryRow]:
    return list(
        session.scalars(
            select(AlertDeliveryRow)
            .where(AlertDeliveryRow.alert_id == alert_id)
            .order_by(AlertDeliveryRow.id)
        )
    )


# --- runtime rule overrides -------------------------------------------------------------------


def load_overrides(session: Session) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (row.scope, row.target_id): dict(row.rules)
        for row in session.scalars(select(AlertRuleOverrideRow))
    }


def put_override(
    session: Session,
    scope: str,
    target_id: str,
    rules: Mapping[str, Any],
    *,
    now: datetime,
    by: str | None = None,
) -> AlertRuleOverrideRow:
    row = session.get(AlertRuleOverrideRow, (scope, target_id))
    if row is None:
        row = AlertRuleOverrideRow(scope=scope, target_id=target_id)
        session.add(row)
    row.rules = dict(rules)
    row.updated_at = now
    row.updated_by = by
    session.flush()
    return row


def delete_override(session: Session, scope: str, target_id: str) -> bool:
    row = session.get(AlertRuleOverrideRow, (scope, target_id))
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


# --- cursors over append-only tables ----------------------------------------------------------


def read_cursor(session: Session, name: str, *, now: datetime, start_at: Callable[[], int]) -> int:
    """The cursor's position; created at ``start_at()`` the first time it is read."""
    row = session.get(AlertCursorRow, name)
    if row is not None:
        return row.position
    position = start_at()
    try:
        with session.begin_nested():
            session.add(AlertCursorRow(name=name, position=position, updated_at=now))
            session.flush()
    except IntegrityError:  # another engine created it first
        created = session.get(AlertCursorRow, name, populate_existing=True)
        return created.position if created is not None else position
    return position


def advance_cursor(session: Session, name: str, old: int, new: int, *, now: datetime) -> bool:
    """Move the cursor from ``old`` to ``new``; False when someone else moved it first."""
    result = session.execute(
        update(AlertCursorRow)
        .where(AlertCursorRow.name == name, AlertCursorRow.position == old)
        .values(position=new, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def max_id(session: Session, column: Any) -> int:
    return int(session.scalar(select(func.coalesce(func.max(column), 0))) or 0)
