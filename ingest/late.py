"""The late path: readings at or before a meter's newest stored reading.

Duplicates change nothing; a genuinely late reading is inserted, the stored
reading after it is stepped again, and the rollups are corrected by the
difference. Rare next to the array path (``ingest.writer``), so done reading
by reading, with the full ``registers.step``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from app.db.base import Base
from app.db.models import MeterEventRow, ReadingRow
from app.db.rollups import interval_start
from app.domain.registers import Quality, RegisterPoint, Step, step
from ingest.columns import MeterInfo, Row, event_row, row_params, unit_factor
from ingest.decode import DecodedReading
from ingest.rollup_deltas import RollupDeltas


def write_late(
    session: Session,
    insert: Callable[[type[Any]], Any],
    info: MeterInfo,
    late: list[DecodedReading],
    now: datetime,
    deltas: RollupDeltas,
    events: list[dict[str, Any]],
) -> tuple[int, int, int, int]:
    """Readings at or before a meter's newest stored one: duplicates, or late data.

    One pass per meter and batch, whatever the number of late readings (redelivery
    after a crash, or two ingesters sharing a subscription, make many): the stored
    readings around them are read once, the new ones are spliced in, and every stored
    reading whose predecessor changed is re-stepped with its rollups corrected.

    Returns:
        (readings inserted, readings that were stored already, stored events replaced by
        the new judgement of their reading (in ``events``), stored events withdrawn by it).
    """
    meter_id = info.meter.id
    times = [r.time for r in late]
    low, high = min(times), max(times)
    stored = session.execute(
        select(ReadingRow.time, ReadingRow.value, ReadingRow.quantity, ReadingRow.quality)
        .where(ReadingRow.meter_id == meter_id, ReadingRow.time >= low, ReadingRow.time <= high)
        .order_by(ReadingRow.time)
    ).all()
    stored_times = {row.time for row in stored}
    new = [r for r, t in zip(late, times, strict=True) if t not in stored_times]
    duplicates = len(late) - len(new)
    if not new:
        return 0, duplicates, 0, 0
    before = session.execute(
        select(ReadingRow.time, ReadingRow.value)
        .where(ReadingRow.meter_id == meter_id, ReadingRow.time < low)
        .order_by(ReadingRow.time.desc())
        .limit(1)
    ).first()
    after = session.execute(
        select(ReadingRow.time, ReadingRow.value, ReadingRow.quantity, ReadingRow.quality)
        .where(ReadingRow.meter_id == meter_id, ReadingRow.time > high)
        .order_by(ReadingRow.time)
        .limit(1)
    ).first()
    neighbours = [*stored, after] if after is not None else list(stored)
    # merge: (time, kind, payload); stored rows keep their stored-only predecessor
    merged: list[tuple[datetime, int, Any]] = [(r.time, 0, r) for r in new]
    merged += [(row.time, 1, row) for row in neighbours]
    merged.sort(key=lambda item: item[0])

    previous = RegisterPoint(before.time, before.value) if before else None
    stored_previous = previous
    inserted: list[Row] = []
    changed: list[dict[str, Any]] = []
    replaced = withdrawn = 0
    for time, kind, item in merged:
        if kind == 0:
            row, point, this_step = _stepped(info, item, previous)
            row = row._replace(quality=row.quality | Quality.LATE)
            inserted.append(row)
            _add(deltas, info, previous, time, row.quantity, row.quality)
            if this_step.event is not None:
                events.append(
                    event_row(meter_id, time, row.value, this_step, _value(previous), now)
                )
            previous = point
            continue
        point = RegisterPoint(time, item.value)
        if previous != stored_previous:
            # a new reading now precedes this stored one: its interval changed
            restep = step(previous, point, info.spec)
            quality = int(restep.quality) | (item.quality & Quality.LATE)
            changed.append({"m": meter_id, "t": time, "q": restep.quantity, "f": quality})
            _add(deltas, info, stored_previous, time, item.quantity, item.quality, sign=-1)
            _add(deltas, info, previous, time, restep.quantity, quality)
            # the event (if any) it had was judged without the new reading
            gone = session.execute(
                delete(MeterEventRow).where(
                    MeterEventRow.meter_id == meter_id, MeterEventRow.time == time
                )
            )
            had_event = bool(getattr(gone, "rowcount", 0))
            if restep.event is not None:
                events.append(event_row(meter_id, time, item.value, restep, _value(previous), now))
                replaced += had_event
            else:
                withdrawn += had_event
        previous = stored_previous = point
    session.execute(insert(ReadingRow), [row_params(r, now) for r in inserted])
    if changed:
        table = Base.metadata.tables["readings"]
        # Core executemany (the ORM would insist on a by-primary-key bulk update)
        session.connection().execute(
            update(table)
            .where(table.c.meter_id == bindparam("m"), table.c.time == bindparam("t"))
            .values(quantity=bindparam("q"), quality=bindparam("f")),
            changed,
        )
    return len(inserted), duplicates, replaced, withdrawn


def _stepped(
    info: MeterInfo, reading: DecodedReading, previous: RegisterPoint | None
) -> tuple[Row, RegisterPoint, Step]:
    time = reading.time
    # the decoder has checked the unit is compatible (e.g. Wh for a kWh meter)
    value = reading.raw_value * info.meter.multiplier * unit_factor(reading.raw_unit)
    point = RegisterPoint(time, value)
    this_step = step(previous, point, info.spec)
    row = Row(
        meter_id=reading.meter_id,
        time=time,
        raw_value=reading.raw_value,
        raw_unit=reading.raw_unit,
        value=value,
        quantity=this_step.quantity,
        quality=int(this_step.quality),
        seq=reading.seq,
    )
    return row, point, this_step


def _value(point: RegisterPoint | None) -> float | None:
    return point.value if point is not None else None


def _add(
    deltas: RollupDeltas,
    info: MeterInfo,
    previous: RegisterPoint | None,
    time: datetime,
    quantity: float | None,
    quality: int,
    sign: int = 1,
) -> None:
    """One reading's interval into the rollup deltas (the late path)."""
    since = previous.time if previous is not None else None
    start = interval_start(since, time, info.meter.expected_interval_s)
    deltas.add(info.meter.id, info.zone, start, time, quantity, quality, sign)
