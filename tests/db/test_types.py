"""``UtcDateTime``: an instant goes in, the same instant comes back in UTC, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.models import MeterStateRow

SHANGHAI = timezone(timedelta(hours=8))


def _state(meter_id: str, at: datetime) -> MeterStateRow:
    return MeterStateRow(
        meter_id=meter_id, last_time=at, last_value=1.0, last_quantity=None, received_at=at
    )


def test_a_local_time_comes_back_as_the_same_instant_in_utc(session: Session) -> None:
    local = datetime(2026, 11, 22, 10, 15, 30, 250_000, tzinfo=SHANGHAI)
    session.add(_state("m-local", local))
    session.flush()
    session.expire_all()
    back = session.scalars(
        select(MeterStateRow.last_time).where(MeterStateRow.meter_id == "m-local")
    ).one()
    assert back == local
    assert back.utcoffset() == timedelta(0)
    assert back.hour == 2


def test_comparisons_and_aggregates_are_in_utc(session: Session) -> None:
    t0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    session.add_all([_state("m-a", t0), _state("m-b", t0 + timedelta(minutes=5))])
    session.flush()
    # the same instant written in another zone selects the same rows
    cut = (t0 + timedelta(minutes=1)).astimezone(SHANGHAI)
    later = session.scalars(
        select(MeterStateRow.meter_id).where(
            MeterStateRow.meter_id.in_(["m-a", "m-b"]), MeterStateRow.last_time > cut
        )
    ).all()
    assert later == ["m-b"]
    newest = session.scalar(
        select(func.max(MeterStateRow.last_time)).where(MeterStateRow.meter_id.in_(["m-a", "m-b"]))
    )
    assert newest == t0 + timedelta(minutes=5)
    assert newest is not None and newest.tzinfo is not None


def test_a_naive_time_is_taken_as_utc(session: Session) -> None:
    session.add(_state("m-naive", datetime(2026, 11, 22, 3, 0)))
    session.flush()
    session.expire_all()
    back = session.scalars(
        select(MeterStateRow.last_time).where(MeterStateRow.meter_id == "m-naive")
    ).one()
    assert back == datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
