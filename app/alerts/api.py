"""Alerts: history and open alerts, acknowledge and resolve, and the rules that raise them.

Reads need the read token; acknowledging, resolving and changing rules need the write
token. Every transition made here also leaves webhook outbox rows in the same
transaction; the alert engine delivers them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from sqlalchemy.orm import Session

from app.alerts import overrides
from app.alerts import store as alert_store
from app.alerts.models import AlertRow
from app.alerts.rules import DEFAULT_RULES, RuleBook, RuleScope, area_target, parse_overrides
from app.alerts.schemas import (
    AcknowledgeBody,
    Alert,
    EffectiveRulesReport,
    ResolveBody,
    RuleOverride,
)
from app.alerts.store import AlertNotFound, TransitionRefused
from app.alerts.webhooks import webhook_config
from app.api.deps import PlantDep, SessionDep
from app.api.state import state_of
from app.api_types import INT32_MAX, AlertId, BoundedDatetime
from app.auth.deps import ReadAccess, WriteAccess
from app.domain.alerts import AlertKind, Severity
from app.domain.plant import AlertRules, Plant

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])

StatusFilter = Literal["open", "acknowledged", "resolved", "active"]


def _now(request: Request) -> datetime:
    return state_of(request.app).clock()


def _webhook_urls(request: Request) -> tuple[str, ...]:
    return webhook_config(state_of(request.app).settings).urls


@router.get("")
def list_alerts(
    session: SessionDep,
    _: ReadAccess,
    site: str | None = None,
    status_: Annotated[StatusFilter | None, Query(alias="status")] = None,
    kind: AlertKind | None = None,
    severity: Severity | None = None,
    meter: str | None = None,
    area: str | None = None,
    since: Annotated[BoundedDatetime | None, Query(description="opened at or after")] = None,
    before_id: Annotated[
        int | None, Query(ge=1, le=INT32_MAX, description="page on: ids below this")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Alert]:
    """Alerts, newest first. ``status=active`` lists open and acknowledged ones."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    rows = alert_store.list_alerts(
        session,
        site=site,
        status=status_,
        kind=kind.value if kind else None,
        severity=severity.value if severity else None,
        meter=meter,
        area=area,
        since=since,
        before_id=before_id,
        limit=limit,
    )
    return [Alert.of(r) for r in rows]


# --- rules (declared before /{alert_id} so "rules" is never read as an id) ------------------


def _rulebook(session: SessionDep, plant: Plant) -> RuleBook:
    return RuleBook(plant, parse_overrides(overrides.load_overrides(session)))


# an override lists only the fields it sets: unset ones are left out, not written as null
@router.get("/rules", response_model_exclude_unset=True)
def effective_rules(session: SessionDep, plant: PlantDep, _: ReadAccess) -> EffectiveRulesReport:
    """The rules in force for every meter and area, and the runtime overrides."""
    book = _rulebook(session, plant)
    meters: list[dict[str, Any]] = []
    areas: list[dict[str, Any]] = []
    for site in plant.sites:
        for area, _parent in site.walk_areas():
            areas.append(
                {
                    "site_id": site.id,
                    "area_id": area.id,
                    "rules": book.for_area(site.id, area.id).as_json(),
                }
            )
        for meter in site.meters:
            meters.append(
                {
                    "site_id": site.id,
                    "area_id": meter.area,
                    "meter_id": meter.id,
                    "resource": meter.resource.value,
                    "rules": book.for_meter(meter).as_json(),
                }
            )
    overrides = [
        {"scope": scope, "target_id": target, "rules": rules.model_dump(exclude_none=True)}
        for (scope, target), rules in sorted(book.overrides.items())
    ]
    return EffectiveRulesReport.model_validate(
        {
            "defaults": DEFAULT_RULES.as_json(),
            "overrides": overrides,
            "areas": areas,
            "meters": meters,
        }
    )


def _target(plant: Plant, scope: RuleScope, target_id: str, site: str | None) -> str:
    """The stored target name; 404 for an unknown target, 409 for an ambiguous area."""
    if scope is RuleScope.SITE:
        if target_id not in {s.id for s in plant.sites}:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no site {target_id!r}")
        return target_id
    if scope is RuleScope.METER:
        if target_id not in {m.id for _, m in plant.meters()}:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no meter {target_id!r}")
        return target_id
    owners = [
        s.id
        for s in plant.sites
        if (site is None or s.id == site) and target_id in {a.id for a, _ in s.walk_areas()}
    ]
    if not owners:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no area {target_id!r}")
    if len(owners) > 1:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"area {target_id!r} exists in several sites: add ?site="
        )
    return area_target(owners[0], target_id)


@router.put("/rules/{scope}/{target_id}", response_model_exclude_unset=True)
def put_rules(
    scope: RuleScope,
    target_id: str,
    rules: AlertRules,
    request: Request,
    session: SessionDep,
    plant: PlantDep,
    _: WriteAccess,
    site: Annotated[str | None, Query(description="the area's site, when ambiguous")] = None,
    by: Annotated[str | None, Query(max_length=128, description="who changes the rule")] = None,
) -> RuleOverride:
    """Override the plant file's rules at one level; fields left out (or null) inherit.

    Replaces any earlier override of the same target; the engines use it within one
    evaluation interval.
    """
    target = _target(plant, scope, target_id, site)
    stored = rules.model_dump(exclude_none=True)
    overrides.put_override(session, scope.value, target, stored, now=_now(request), by=by)
    return RuleOverride.model_validate({"scope": scope.value, "target_id": target, "rules": stored})


@router.delete("/rules/{scope}/{target_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_rules(
    scope: RuleScope,
    target_id: str,
    session: SessionDep,
    plant: PlantDep,
    _: WriteAccess,
    site: str | None = None,
) -> Response:
    """Drop a runtime override: the plant file's rules apply again."""
    target = _target(plant, scope, target_id, site)
    if not overrides.delete_override(session, scope.value, target):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no override for {scope.value} {target}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- one alert ------------------------------------------------------------------------------


@router.get("/{alert_id}")
def get_alert(alert_id: AlertId, session: SessionDep, _: ReadAccess) -> Alert:
    row = alert_store.get_alert(session, alert_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id}")
    return Alert.of(row)


@router.post("/{alert_id}/acknowledge")
def acknowledge(
    alert_id: AlertId, body: AcknowledgeBody, request: Request, session: SessionDep, _: WriteAccess
) -> Alert:
    """Someone owns the alert; it stays on the banner until its condition clears."""
    return _transition(
        alert_store.acknowledge_alert, alert_id, body.by, body.note, request, session
    )


@router.post("/{alert_id}/resolve")
def resolve(
    alert_id: AlertId, body: ResolveBody, request: Request, session: SessionDep, _: WriteAccess
) -> Alert:
    """Close the alert by hand, with a note. If its condition persists, the engine does
    not reopen it until the condition has cleared and come back."""
    return _transition(alert_store.resolve_alert, alert_id, body.by, body.note, request, session)


def _transition(
    change: Callable[..., AlertRow],
    alert_id: int,
    by: str,
    note: str | None,
    request: Request,
    session: Session,
) -> Alert:
    """Apply a hand transition: 404 for an unknown alert, 409 when its state forbids it."""
    try:
        row = change(
            session,
            alert_id,
            by=by,
            note=note,
            now=_now(request),
            webhook_urls=_webhook_urls(request),
        )
    except AlertNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id}") from None
    except TransitionRefused as exc:  # the alert's state forbids it
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return Alert.of(row)
