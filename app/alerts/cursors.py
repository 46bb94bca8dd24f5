"""How far the alert engines have read append-only tables, advanced by compare-and-set."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.alerts.models import AlertCursorRow


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


def _rowcount(result: object) -> int:
    return int(cast("CursorResult[Any]", result).rowcount)
