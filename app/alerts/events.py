"""Register events (``meter_events``) read once, in id order, by exactly one engine.

The position is a database cursor advanced by compare-and-set in the same transaction
as the alerts the events produce: of several engines, the one whose advance succeeds
handles the events; the others see the cursor moved and do nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.alerts import cursors
from app.db.engine import transaction
from app.db.models import MeterEventRow

CURSOR: Final = "meter_events"
T = TypeVar("T")


class EventFeed:
    """Hands new ``meter_events`` rows to a handler, at most ``batch`` per round."""

    def __init__(
        self, factory: sessionmaker[Session], *, gap_wait: timedelta, batch: int = 200
    ) -> None:
        self._factory = factory
        self._gap_wait = gap_wait
        self._batch = batch
        self._gap: tuple[datetime, int] | None = None
        self.taken_elsewhere = 0

    def settled(self, rows: list[MeterEventRow], cursor: int, now: datetime) -> list[MeterEventRow]:
        """The events up to the first unexplained hole in the ids.

        A PostgreSQL sequence hands out ids before commit, so a later id can commit
        first: a hole is given ``gap_wait`` to fill before it is skipped for good
        (holes also come from rolled-back or conflicting inserts, and never fill).
        """
        gap = self._gap
        spent = gap is not None and (now - gap[0] >= self._gap_wait or now < gap[0])
        horizon = gap[1] if gap is not None and spent else cursor
        position = cursor
        taken: list[MeterEventRow] = []
        for row in rows:
            if position and row.id != position + 1 and row.id > horizon:
                if gap is None or spent:
                    self._gap = (now, rows[-1].id)
                break
            taken.append(row)
            position = row.id
        else:
            self._gap = None
        return taken

    def take(self, now: datetime, handle: Callable[[Session, MeterEventRow], list[T]]) -> list[T]:
        """Run ``handle`` on each new event in one transaction with the cursor's advance.

        Raises SQLAlchemyError; nothing is taken then, and the next round retries.
        """
        with transaction(self._factory) as session:
            cursor = cursors.read_cursor(
                session,
                CURSOR,
                now=now,
                # a first start begins at the newest event: history is not news
                start_at=lambda: cursors.max_id(session, MeterEventRow.id),
            )
            rows = list(
                session.scalars(
                    select(MeterEventRow)
                    .where(MeterEventRow.id > cursor)
                    .order_by(MeterEventRow.id)
                    .limit(self._batch)
                )
            )
        taken = self.settled(rows, cursor, now)
        if not taken:
            return []
        results: list[T] = []
        with transaction(self._factory) as session:
            if not cursors.advance_cursor(session, CURSOR, cursor, taken[-1].id, now=now):
                self.taken_elsewhere += 1
                return []
            for event in taken:
                results += handle(session, event)
        return results
