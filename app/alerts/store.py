"""Alert rows and their transitions: queries that never commit.

Every transition goes through the domain (``app.domain.alerts``) for validation and is
written together with its outbox rows in the caller's transaction, so a notification
is never lost and never sent for a change that rolled back. Rows are locked for the
change (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite has a single writer), and the
partial unique index on ``condition_key`` keeps one unresolved alert per condition
whichever process raced to open it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.alerts.models import AlertRow
from app.alerts.outbox import enqueue
from app.alerts.schemas import Event, iso, since_of
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


class TransitionRefused(ValueError):  # noqa: N818 - reads as what happened
    """The domain refused the change (``InvalidTransition``, a clock behind the alert's
    opening, a manual change without who and why); the message says which.

    Raised only around the domain's own checks, so any other ``ValueError`` is a bug
    and surfaces as one.
    """


@dataclass(frozen=True, slots=True)
class Target:
    """Where an alert belongs; ``area_id`` is the plain area id (not ``site/area``)."""

    site_id: str
    area_id: str | None = None
    meter_id: str | None = None


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


def unresolved(
    session: Session, site_id: str | None = None, *, limit: int = MAX_OPEN_LISTED
) -> list[AlertRow]:
    """Open and acknowledged alerts, newest first (at most ``limit``)."""
    query = select(AlertRow).where(AlertRow.status.in_(ACTIVE))
    if site_id is not None:
        query = query.where(AlertRow.site_id == site_id)
    query = query.order_by(AlertRow.opened_at.desc(), AlertRow.id.desc()).limit(limit)
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
    try:
        alert = candidate.open(now=now)
    except ValueError as exc:
        raise TransitionRefused(str(exc)) from exc
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
    current = to_domain(row)
    try:
        done = acknowledge(current, by=by, now=now, note=note)
    except ValueError as exc:
        raise TransitionRefused(str(exc)) from exc
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
    current = to_domain(row)
    try:
        done = resolve(current, now=now, by=by, note=note, automatic=automatic)
    except ValueError as exc:
        raise TransitionRefused(str(exc)) from exc
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
