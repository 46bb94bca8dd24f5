"""Alert lifecycle: open → acknowledged → resolved, as pure transitions on a frozen ``Alert``.

One open alert per condition: a condition is named by ``condition_key(kind, scope,
target_id)`` and the store keeps at most one unresolved alert per key. Alerts are
resolved automatically when the detector reports the condition cleared, or by hand
with a note. Every transition returns a new ``Alert``; invalid ones raise
``InvalidTransition``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import Final

CRITICAL_EXCESS_FACTOR: Final = 2.0
"""An excess over expected at least this many times the threshold's excess is critical."""


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertKind(StrEnum):
    SPIKE = "spike"
    OFFLINE = "offline"
    PV_SHORTFALL = "pv_shortfall"
    REGISTER_EVENT = "register_event"


class AlertScope(StrEnum):
    """What the alert is about: one meter, an area or a whole site."""

    METER = "meter"
    AREA = "area"
    SITE = "site"


class InvalidTransition(ValueError):  # noqa: N818 - the name is part of the agreed API
    """The alert's status does not allow the requested transition."""


def condition_key(kind: AlertKind, scope: AlertScope, target_id: str) -> str:
    """The key under which at most one unresolved alert may exist, e.g. ``spike:meter:el-01``."""
    if not target_id.strip():
        raise ValueError("target_id must not be empty")
    return f"{AlertKind(kind).value}:{AlertScope(scope).value}:{target_id}"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert; ``id`` is ``None`` until the store has assigned one.

    ``since`` is when the condition began (e.g. the first sample above threshold),
    ``opened_at`` when the alert was raised. Quantities are in ``unit``.
    """

    kind: AlertKind
    scope: AlertScope
    target_id: str
    severity: Severity
    message: str
    opened_at: datetime
    since: datetime
    status: AlertStatus = AlertStatus.OPEN
    id: int | None = None
    observed: float | None = None
    expected: float | None = None
    threshold: float | None = None
    unit: str | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledge_note: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution_note: str | None = None
    resolved_automatically: bool = False

    @property
    def condition_key(self) -> str:
        return condition_key(self.kind, self.scope, self.target_id)

    @property
    def is_active(self) -> bool:
        """True until resolved (open or acknowledged)."""
        return self.status is not AlertStatus.RESOLVED


@dataclass(frozen=True, slots=True)
class AlertCandidate:
    """What a detector proposes; the alert engine opens it unless its condition is open."""

    kind: AlertKind
    scope: AlertScope
    target_id: str
    severity: Severity
    message: str
    since: datetime
    observed: float | None = None
    expected: float | None = None
    threshold: float | None = None
    unit: str | None = None

    @property
    def condition_key(self) -> str:
        return condition_key(self.kind, self.scope, self.target_id)

    def open(self, *, now: datetime) -> Alert:
        return open_alert(
            kind=self.kind,
            scope=self.scope,
            target_id=self.target_id,
            severity=self.severity,
            message=self.message,
            now=now,
            since=self.since,
            observed=self.observed,
            expected=self.expected,
            threshold=self.threshold,
            unit=self.unit,
        )


def _require_aware(name: str, value: datetime) -> None:
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")


def _ref(alert: Alert) -> str:
    ident = f"#{alert.id}" if alert.id is not None else "(unsaved)"
    return f"alert {ident} {alert.condition_key}"


def open_alert(
    *,
    kind: AlertKind,
    scope: AlertScope,
    target_id: str,
    severity: Severity,
    message: str,
    now: datetime,
    since: datetime | None = None,
    observed: float | None = None,
    expected: float | None = None,
    threshold: float | None = None,
    unit: str | None = None,
) -> Alert:
    """A new open alert; ``since`` defaults to ``now``."""
    _require_aware("now", now)
    if since is not None:
        _require_aware("since", since)
    condition_key(kind, scope, target_id)  # validates target_id
    return Alert(
        kind=AlertKind(kind),
        scope=AlertScope(scope),
        target_id=target_id,
        severity=Severity(severity),
        message=message,
        opened_at=now,
        since=since if since is not None else now,
        observed=observed,
        expected=expected,
        threshold=threshold,
        unit=unit,
    )


def acknowledge(alert: Alert, *, by: str, now: datetime, note: str | None = None) -> Alert:
    """Someone has seen the alert and owns it; the condition may still be active.

    Raises:
        InvalidTransition: the alert is already acknowledged or resolved.
        ValueError: ``by`` is empty, ``now`` is naive or before the alert was opened.
    """
    if alert.status is AlertStatus.RESOLVED:
        raise InvalidTransition(
            f"cannot acknowledge {_ref(alert)}: it was already resolved at "
            f"{_iso(alert.resolved_at)}"
        )
    if alert.status is AlertStatus.ACKNOWLEDGED:
        raise InvalidTransition(
            f"cannot acknowledge {_ref(alert)}: already acknowledged by "
            f"{alert.acknowledged_by} at {_iso(alert.acknowledged_at)}"
        )
    if not by.strip():
        raise ValueError("acknowledge needs the name of who acknowledges (by)")
    _check_time(alert, now)
    return replace(
        alert,
        status=AlertStatus.ACKNOWLEDGED,
        acknowledged_at=now,
        acknowledged_by=by,
        acknowledge_note=note,
    )


def resolve(
    alert: Alert,
    *,
    now: datetime,
    by: str | None = None,
    note: str | None = None,
    automatic: bool = False,
) -> Alert:
    """Close the alert: automatically when the condition cleared, or by hand with a note.

    Raises:
        InvalidTransition: the alert is already resolved.
        ValueError: a manual resolution without ``by`` and ``note``; ``now`` naive or
            before the alert was opened.
    """
    if alert.status is AlertStatus.RESOLVED:
        raise InvalidTransition(
            f"cannot resolve {_ref(alert)}: it was already resolved at {_iso(alert.resolved_at)}"
        )
    if not automatic and not (by and by.strip() and note and note.strip()):
        raise ValueError("resolving by hand needs who resolves (by) and a note saying why")
    _check_time(alert, now)
    return replace(
        alert,
        status=AlertStatus.RESOLVED,
        resolved_at=now,
        resolved_by=by,
        resolution_note=note,
        resolved_automatically=automatic,
    )


def _check_time(alert: Alert, now: datetime) -> None:
    _require_aware("now", now)
    if now < alert.opened_at:
        raise ValueError(
            f"{now.isoformat()} is before {_ref(alert)} was opened ({alert.opened_at.isoformat()})"
        )


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else "an unknown time"


def severity_for_excess(
    observed: float,
    expected: float | None,
    threshold: float,
    *,
    critical_factor: float = CRITICAL_EXCESS_FACTOR,
) -> Severity:
    """Critical when ``observed − expected ≥ critical_factor × (threshold − expected)``.

    Without an expectation (an absolute threshold alone), expected counts as 0.
    """
    base = expected if expected is not None else 0.0
    allowed = threshold - base
    if allowed <= 0:
        return Severity.CRITICAL if observed >= critical_factor * threshold else Severity.WARNING
    return Severity.CRITICAL if observed - base >= critical_factor * allowed else Severity.WARNING


_HEADLINES: Final = {
    AlertKind.SPIKE: "Spike on",
    AlertKind.OFFLINE: "No readings from",
    AlertKind.PV_SHORTFALL: "PV far below clear-sky output on",
    AlertKind.REGISTER_EVENT: "Register event on",
}


def _local_time(at: datetime, tz: tzinfo, now: datetime | None) -> str:
    local = at.astimezone(tz)
    if now is not None and now.astimezone(tz).date() != local.date():
        return local.strftime("%Y-%m-%d %H:%M")
    return local.strftime("%H:%M")


def _qty(value: float, unit: str) -> str:
    return f"{value:.1f} {unit}".rstrip()


def describe(
    kind: AlertKind,
    *,
    meter_id: str,
    since: datetime,
    tz: tzinfo,
    meter_name: str | None = None,
    area_name: str | None = None,
    observed: float | None = None,
    expected: float | None = None,
    threshold: float | None = None,
    unit: str = "kW",
    detail: str | None = None,
    now: datetime | None = None,
) -> str:
    """The message a person understands, with the site's local time.

    e.g. ``Spike on Compressor house main (meter el-comp-01, area Utilities):
    412.5 kW vs 180.2 kW expected (threshold 260.0 kW) since 14:05``.
    ``since`` is shown as ``HH:MM`` in ``tz``, with the date when ``now`` is given and
    falls on another local day. ``detail`` replaces the figures (register events).
    """
    _require_aware("since", since)
    where = f"meter {meter_id}" + (f", area {area_name}" if area_name else "")
    subject = f"{meter_name or meter_id} ({where})"
    at = _local_time(since, tz, now)
    head = f"{_HEADLINES[AlertKind(kind)]} {subject}"
    if detail is not None:
        return f"{head}: {detail} at {at}"
    if kind is AlertKind.OFFLINE:
        return f"{head}: silent since {at}"
    figures: list[str] = []
    if observed is not None:
        figures.append(_qty(observed, unit))
    if expected is not None:
        label = "clear-sky expected" if kind is AlertKind.PV_SHORTFALL else "expected"
        figures.append(f"vs {_qty(expected, unit)} {label}")
    if threshold is not None:
        figures.append(f"(threshold {_qty(threshold, unit)})")
    body = " ".join(figures) if figures else "condition active"
    return f"{head}: {body} since {at}"
