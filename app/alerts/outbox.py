"""The webhook outbox: rows written with each alert transition, claimed and delivered later.

Written in the caller's transaction (never committed here), so a notification is never
lost and never sent for a change that rolled back.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from app.alerts.models import AlertDeliveryRow, AlertRow
from app.alerts.schemas import webhook_body


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
