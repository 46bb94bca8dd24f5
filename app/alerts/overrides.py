"""Alert rules set at runtime through the API, per site, area or meter (queries, no commit)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.alerts.models import AlertRuleOverrideRow


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
