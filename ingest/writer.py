"""Batch writer: readings in, one transaction out — idempotent, late-data aware, rollups kept.

Per batch, under a per-meter lock (PostgreSQL advisory locks, so two ingesters never
interleave the same meter's register arithmetic):

* readings newer than the meter's last stored reading (the usual case) are stepped
  against ``meter_state`` and inserted in bulk;
* older ones (late, out of order, or redelivered duplicates) are checked against the
  stored neighbours: a duplicate changes nothing, a genuinely late reading is inserted
  and the reading after it is re-stepped, with the rollups corrected by the difference;
* rollups (UTC hours, site-local days) are kept as exact deltas, so a late reading
  corrects the hour and day it belongs to;
* register events and rejected messages are written in the same transaction.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Insert, bindparam, delete, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import (
    Base,
    MeterEventRow,
    MeterStateRow,
    ReadingRow,
    RejectedMessageRow,
    RollupRow,
)
from app.db.rollups import DAY, HOUR, buckets, interval_start, next_day_start, spread
from app.db.timescale import StorageInfo, StorageMode
from app.domain.plant import Meter, Plant
from app.domain.registers import (
    Quality,
    RegisterKind,
    RegisterPoint,
    RegisterSpec,
    Step,
    plain_rise,
    step,
)
from app.domain.units import parse_unit
from ingest.decode import DecodedReading, Rejection

log = logging.getLogger(__name__)

_ESTIMATED = int(Quality.ESTIMATED)  # plain int: IntFlag arithmetic is slow on the hot path


@dataclass
class WriteResult:
    """What one batch did."""

    written: int = 0
    duplicates: int = 0
    late: int = 0
    events: int = 0
    rejected: int = 0
    sites: set[str] = field(default_factory=set)
    newest_time: datetime | None = None


@dataclass(frozen=True)
class _MeterInfo:
    site_id: str
    meter: Meter
    spec: RegisterSpec
    zone: ZoneInfo


@dataclass
class _Row:
    """A reading ready to store."""

    meter_id: str
    time: datetime
    raw_value: float
    raw_unit: str
    value: float
    quantity: float | None
    quality: int
    seq: int | None


@dataclass(frozen=True, slots=True)
class _Last:
    """A meter's newest reading after a batch: the next batch's register continuity."""

    time: datetime
    value: float
    quantity: float | None
    rate_per_h: float | None


class _RollupDeltas:
    """Exact additive corrections to the rollup buckets of one batch."""

    def __init__(self) -> None:
        self._acc: dict[tuple[str, str, datetime], list[float]] = defaultdict(lambda: [0.0, 0, 0])
        # the hour and day windows of the last interval seen per meter: consecutive readings
        # almost always share them, and the bucket arithmetic is the hot path
        self._last: dict[str, tuple[datetime, datetime, list[float], list[float]]] = {}

    def add(
        self,
        info: _MeterInfo,
        meter_id: str,
        since: datetime | None,
        time: datetime,
        quantity: float | None,
        quality: int,
        sign: int = 1,
    ) -> None:
        """Add (or with ``sign=-1`` take back) one reading's interval quantity."""
        if quantity is None:
            return
        start = interval_start(since, time, info.meter.expected_interval_s)
        estimated = sign if quality & _ESTIMATED else 0
        last = self._last.get(meter_id)
        if last is not None and last[0] <= start and time <= last[1]:
            # (start, time] lies inside the window both of last's buckets cover
            for acc in (last[2], last[3]):
                acc[0] += sign * quantity
                acc[1] += sign
                acc[2] += estimated
            return
        for resolution, bucket, share in spread(start, time, quantity, info.zone):
            self._acc[(meter_id, resolution, bucket)][0] += sign * share
        hour, day = buckets(time, info.zone)
        hour_acc, day_acc = self._acc[(meter_id, HOUR, hour)], self._acc[(meter_id, DAY, day)]
        for acc in (hour_acc, day_acc):
            acc[1] += sign
            acc[2] += estimated
        window_start = max(hour, day)
        window_end = min(hour + timedelta(hours=1), next_day_start(day, info.zone))
        self._last[meter_id] = (window_start, window_end, hour_acc, day_acc)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "meter_id": meter_id,
                "resolution": resolution,
                "bucket_start": bucket,
                "quantity": acc[0],
                "samples": int(acc[1]),
                "estimated": int(acc[2]),
            }
            for (meter_id, resolution, bucket), acc in self._acc.items()
            if acc[1] or acc[0]
        ]


class BatchWriter:
    """Writes decoded readings and rejections, one transaction per batch."""

    def __init__(self, factory: sessionmaker[Session], plant: Plant, storage: StorageInfo) -> None:
        self._factory = factory
        self._postgres = storage.mode is not StorageMode.SQLITE
        self._meters: dict[str, _MeterInfo] = {}
        for site, meter in plant.meters():
            self._meters[meter.id] = _MeterInfo(
                site_id=site.id,
                meter=meter,
                spec=meter.register_spec(),
                zone=site.zone,
            )

    def write(
        self, readings: Sequence[DecodedReading], rejections: Sequence[Rejection], *, now: datetime
    ) -> WriteResult:
        """Store a batch; commits before returning, raises (nothing committed) on DB errors."""
        result = WriteResult(rejected=len(rejections))
        by_meter = self._group(readings, result)
        with self._factory() as session, session.begin():
            if by_meter:
                self._lock(session, sorted(by_meter))
                self._write_readings(session, by_meter, now, result)
            if rejections:
                session.execute(
                    self._insert(RejectedMessageRow),
                    [
                        {
                            "received_at": r.received_at,
                            "topic": r.topic[:512],
                            "meter_id": r.meter_id,
                            "reason": r.reason,
                            "detail": r.detail,
                            "payload": r.payload,
                        }
                        for r in rejections
                    ],
                )
        return result

    # -- grouping and locking -------------------------------------------------------------

    def _group(
        self, readings: Iterable[DecodedReading], result: WriteResult
    ) -> dict[str, list[DecodedReading]]:
        """Per meter, time-ordered, with in-batch repeats of (meter, time) removed."""
        by_meter: dict[str, dict[datetime, DecodedReading]] = defaultdict(dict)
        for reading in readings:
            if reading.meter_id not in self._meters:
                raise ValueError(f"meter {reading.meter_id!r} is not in the plant (decoder bug)")
            bucket = by_meter[reading.meter_id]
            time = reading.time.astimezone(UTC)
            if time in bucket:
                result.duplicates += 1
                continue
            bucket[time] = reading
        return {m: [bucket[t] for t in sorted(bucket)] for m, bucket in by_meter.items()}

    def _lock(self, session: Session, meter_ids: list[str]) -> None:
        """Serialise register arithmetic per meter across ingesters (PostgreSQL only;
        SQLite has a single writer). Sorted order keeps two batches from deadlocking."""
        if not self._postgres:
            return
        session.execute(
            text(
                "SELECT pg_advisory_xact_lock(k) FROM "
                "(SELECT hashtextextended(m, 7242) AS k FROM unnest(CAST(:ids AS text[])) AS m "
                "ORDER BY 1) AS keys"
            ),
            {"ids": meter_ids},
        )

    # -- the two paths ----------------------------------------------------------------------

    def _write_readings(
        self,
        session: Session,
        by_meter: dict[str, list[DecodedReading]],
        now: datetime,
        result: WriteResult,
    ) -> None:
        states = {
            row.meter_id: row
            for row in session.scalars(
                select(MeterStateRow).where(MeterStateRow.meter_id.in_(list(by_meter)))
            )
        }
        fresh: list[_Row] = []
        events: list[dict[str, Any]] = []
        deltas = _RollupDeltas()
        state_rows: list[dict[str, Any]] = []
        for meter_id, readings in by_meter.items():
            info = self._meters[meter_id]
            state = states.get(meter_id)
            last_time = _aware(state.last_time) if state else None
            previous = RegisterPoint(last_time, state.last_value) if state and last_time else None
            late = [r for r in readings if last_time is not None and r.time <= last_time]
            newer = [r for r in readings if last_time is None or r.time > last_time]
            if late:
                self._write_late(session, info, late, now, deltas, events, result)
            if newer:
                last = self._step_run(info, newer, previous, fresh, deltas, events, now)
                state_rows.append(
                    {
                        "meter_id": meter_id,
                        "last_time": last.time,
                        "last_value": last.value,
                        "last_quantity": last.quantity,
                        "last_rate_per_h": last.rate_per_h,
                        "received_at": now,
                    }
                )
                result.sites.add(info.site_id)
                if result.newest_time is None or last.time > result.newest_time:
                    result.newest_time = last.time
        if fresh:
            if self._postgres:
                _copy_readings(session, fresh, now)
            else:
                session.execute(
                    self._insert(ReadingRow).on_conflict_do_nothing(),
                    [_row_params(r, now) for r in fresh],
                )
            result.written += len(fresh)
        if state_rows:
            ins = self._insert(MeterStateRow)
            session.execute(
                ins.on_conflict_do_update(
                    index_elements=["meter_id"],
                    set_={
                        c: ins.excluded[c]
                        for c in (
                            "last_time",
                            "last_value",
                            "last_quantity",
                            "last_rate_per_h",
                            "received_at",
                        )
                    },
                    where=MeterStateRow.last_time < ins.excluded.last_time,
                ),
                state_rows,
            )
        if events:
            session.execute(self._insert(MeterEventRow).on_conflict_do_nothing(), events)
            result.events += len(events)
        rollups = deltas.rows()
        if rollups:
            ins = self._insert(RollupRow)
            session.execute(
                ins.on_conflict_do_update(
                    index_elements=["meter_id", "resolution", "bucket_start"],
                    set_={
                        "quantity": RollupRow.quantity + ins.excluded.quantity,
                        "samples": RollupRow.samples + ins.excluded.samples,
                        "estimated": RollupRow.estimated + ins.excluded.estimated,
                    },
                ),
                rollups,
            )

    def _step_run(
        self,
        info: _MeterInfo,
        readings: list[DecodedReading],
        previous: RegisterPoint | None,
        out: list[_Row],
        deltas: _RollupDeltas,
        events: list[dict[str, Any]],
        now: datetime,
    ) -> _Last:
        """Step a meter's time-ordered run of new readings (the hot path).

        A cumulative register that simply rose by a plausible amount is judged by
        ``plain_rise`` without building points and steps; anything else gets the full
        ``step``.
        """
        spec = info.spec
        cumulative = spec.kind is RegisterKind.CUMULATIVE
        meter_id = info.meter.id
        multiplier = info.meter.multiplier
        prev_time = previous.time if previous else None
        prev_value = previous.value if previous else 0.0
        quantity: float | None = None
        elapsed_s: float | None = None
        for reading in readings:
            time = reading.time
            if time.tzinfo is not UTC:
                time = time.astimezone(UTC)
            value = reading.raw_value * multiplier * _unit_factor(reading.raw_unit)
            elapsed_s = (time - prev_time).total_seconds() if prev_time is not None else None
            quantity = None
            if cumulative and elapsed_s is not None:
                quantity = plain_rise(prev_value, value, elapsed_s, spec)
            event: tuple[Step, RegisterPoint | None] | None = None
            if quantity is not None:
                quality = 0
            else:
                before = RegisterPoint(prev_time, prev_value) if prev_time is not None else None
                full = step(before, RegisterPoint(time, value), spec)
                quantity, quality = full.quantity, int(full.quality)
                if full.event is not None:
                    event = (full, before)
            row = _Row(
                meter_id,
                time,
                reading.raw_value,
                reading.raw_unit,
                value,
                quantity,
                quality,
                reading.seq,
            )
            out.append(row)
            deltas.add(info, meter_id, prev_time, time, quantity, quality)
            if event is not None:
                events.append(_event(meter_id, row, event[0], event[1], now))
            prev_time, prev_value = time, value
        assert prev_time is not None
        if spec.kind is RegisterKind.INSTANTANEOUS:
            rate: float | None = prev_value
        elif quantity is not None and elapsed_s:
            rate = quantity * 3600 / elapsed_s
        else:
            rate = None
        return _Last(prev_time, prev_value, quantity, rate)

    def _write_late(
        self,
        session: Session,
        info: _MeterInfo,
        late: list[DecodedReading],
        now: datetime,
        deltas: _RollupDeltas,
        events: list[dict[str, Any]],
        result: WriteResult,
    ) -> None:
        """Readings at or before a meter's newest stored one: duplicates, or late data.

        One pass per meter and batch, whatever the number of late readings (redelivery
        after a crash, or two ingesters sharing a subscription, make many): the stored
        readings around them are read once, the new ones are spliced in, and every stored
        reading whose predecessor changed is re-stepped with its rollups corrected.
        """
        meter_id = info.meter.id
        times = [r.time.astimezone(UTC) for r in late]
        low, high = min(times), max(times)
        stored = session.execute(
            select(ReadingRow.time, ReadingRow.value, ReadingRow.quantity, ReadingRow.quality)
            .where(ReadingRow.meter_id == meter_id, ReadingRow.time >= low, ReadingRow.time <= high)
            .order_by(ReadingRow.time)
        ).all()
        stored_times = {_aware(row.time) for row in stored}
        new = [r for r, t in zip(late, times, strict=True) if t not in stored_times]
        result.duplicates += len(late) - len(new)
        if not new:
            return
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
        merged: list[tuple[datetime, int, Any]] = [(r.time.astimezone(UTC), 0, r) for r in new]
        merged += [(_aware(row.time), 1, row) for row in neighbours]
        merged.sort(key=lambda item: item[0])

        previous = RegisterPoint(_aware(before.time), before.value) if before else None
        stored_previous = previous
        inserted: list[_Row] = []
        changed: list[dict[str, Any]] = []
        for time, kind, item in merged:
            if kind == 0:
                row, point, this_step = self._stepped(info, item, previous)
                row.quality |= Quality.LATE
                inserted.append(row)
                deltas.add(
                    info,
                    meter_id,
                    previous.time if previous else None,
                    time,
                    row.quantity,
                    row.quality,
                )
                if this_step.event is not None:
                    events.append(_event(meter_id, row, this_step, previous, now))
                previous = point
                continue
            point = RegisterPoint(time, item.value)
            if previous != stored_previous:
                # a new reading now precedes this stored one: its interval changed
                restep = step(previous, point, info.spec)
                quality = int(restep.quality) | (item.quality & Quality.LATE)
                changed.append({"m": meter_id, "t": time, "q": restep.quantity, "f": quality})
                old_since = stored_previous.time if stored_previous else None
                deltas.add(info, meter_id, old_since, time, item.quantity, item.quality, sign=-1)
                deltas.add(
                    info,
                    meter_id,
                    previous.time if previous else None,
                    time,
                    restep.quantity,
                    quality,
                )
                # the event (if any) it had was judged without the new reading
                session.execute(
                    delete(MeterEventRow).where(
                        MeterEventRow.meter_id == meter_id, MeterEventRow.time == time
                    )
                )
                if restep.event is not None:
                    row = _Row(
                        meter_id, time, item.value, "", item.value, restep.quantity, quality, None
                    )
                    events.append(_event(meter_id, row, restep, previous, now))
            previous = stored_previous = point
        session.execute(self._insert(ReadingRow), [_row_params(r, now) for r in inserted])
        if changed:
            table = Base.metadata.tables["readings"]
            # Core executemany (the ORM would insist on a by-primary-key bulk update)
            session.connection().execute(
                update(table)
                .where(table.c.meter_id == bindparam("m"), table.c.time == bindparam("t"))
                .values(quantity=bindparam("q"), quality=bindparam("f")),
                changed,
            )
        result.written += len(inserted)
        result.late += len(inserted)
        result.sites.add(info.site_id)

    def _stepped(
        self, info: _MeterInfo, reading: DecodedReading, previous: RegisterPoint | None
    ) -> tuple[_Row, RegisterPoint, Step]:
        time = reading.time.astimezone(UTC)
        # the decoder has checked the unit is compatible (e.g. Wh for a kWh meter)
        value = reading.raw_value * info.meter.multiplier * _unit_factor(reading.raw_unit)
        point = RegisterPoint(time, value)
        this_step = step(previous, point, info.spec)
        row = _Row(
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

    def _insert(self, model: type[Any]) -> Any:
        dialect: Any = postgresql if self._postgres else sqlite
        statement: Insert = dialect.insert(model)
        return statement


_READING_COLUMNS = "meter_id, time, raw_value, raw_unit, value, quantity, quality, seq, received_at"
_READING_TYPES = (
    "text",
    "timestamptz",
    "float8",
    "text",
    "float8",
    "float8",
    "int2",
    "int4",
    "timestamptz",
)


def _copy_readings(session: Session, rows: Sequence[_Row], now: datetime) -> None:
    """Binary COPY into a per-connection staging table, then one INSERT … ON CONFLICT.

    COPY cannot skip conflicting rows itself; staging keeps the write idempotent while
    moving the rows at COPY speed rather than statement by statement.
    """
    connection = session.connection()
    raw: Any = connection.connection.driver_connection
    with raw.cursor() as cursor:
        if not connection.info.get("readings_staging"):
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS readings_staging "
                "(LIKE readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
            connection.info["readings_staging"] = True
        with cursor.copy(
            f"COPY readings_staging ({_READING_COLUMNS}) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(_READING_TYPES)
            for r in rows:
                copy.write_row(
                    (
                        r.meter_id,
                        r.time,
                        r.raw_value,
                        r.raw_unit,
                        r.value,
                        r.quantity,
                        r.quality,
                        r.seq,
                        now,
                    )
                )
        cursor.execute(
            f"INSERT INTO readings ({_READING_COLUMNS}) "
            f"SELECT {_READING_COLUMNS} FROM readings_staging ON CONFLICT DO NOTHING"
        )
        # ON COMMIT DELETE ROWS empties it at commit; a rolled-back batch leaves nothing behind
        cursor.execute("TRUNCATE readings_staging")


@cache
def _unit_factor(unit: str) -> float:
    return parse_unit(unit).factor


def _aware(time: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything is stored in UTC."""
    return time if time.tzinfo is not None else time.replace(tzinfo=UTC)


def _row_params(row: _Row, now: datetime) -> dict[str, Any]:
    return {
        "meter_id": row.meter_id,
        "time": row.time,
        "raw_value": row.raw_value,
        "raw_unit": row.raw_unit,
        "value": row.value,
        "quantity": row.quantity,
        "quality": row.quality,
        "seq": row.seq,
        "received_at": now,
    }


def _event(
    meter_id: str, row: _Row, this_step: Step, previous: RegisterPoint | None, now: datetime
) -> dict[str, Any]:
    assert this_step.event is not None
    return {
        "meter_id": meter_id,
        "time": row.time,
        "kind": this_step.event.value,
        "previous_value": previous.value if previous else None,
        "value": row.value,
        "detail": this_step.detail,
        "recorded_at": now,
    }
