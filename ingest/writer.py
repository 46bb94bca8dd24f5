"""Batch writer: readings in, one transaction out — idempotent, late-data aware, rollups kept.

Per batch, under a per-meter lock (PostgreSQL advisory locks, so two ingesters never
interleave the same meter's register arithmetic):

* readings newer than the meter's last stored reading (the usual case) are stepped
  against ``meter_state`` as arrays (``app.domain.register_runs``) and copied in bulk;
* older ones (late, out of order, or redelivered duplicates) are checked against the
  stored neighbours: a duplicate changes nothing, a genuinely late reading is inserted
  and the reading after it is re-stepped, with the rollups corrected by the difference;
* rollups (UTC hours, site-local days) are kept as exact deltas, so a late reading
  corrects the hour and day it belongs to;
* register events and rejected messages are written in the same transaction.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from math import isnan
from typing import Any

import msgspec
import numpy as np
from psycopg.errors import UniqueViolation
from sqlalchemy import Insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import (
    MeterEventRow,
    MeterStateRow,
    ReadingRow,
    RejectedMessageRow,
    RollupRow,
)
from app.db.timescale import StorageInfo, StorageMode
from app.domain.plant import Plant
from app.domain.register_runs import MeterRun, from_micros, micros, step_runs
from app.domain.registers import (
    RegisterKind,
    RegisterPoint,
)
from ingest import sparkplug_store
from ingest.columns import Fresh, MeterInfo, SortedBatch, event_row, sort_readings
from ingest.decode import DecodedReading, Rejection
from ingest.late import write_late
from ingest.rollup_deltas import RollupDeltas, RunBuckets
from ingest.sparkplug_store import SparkplugEffects

log = logging.getLogger(__name__)

_MICROSECOND = timedelta(microseconds=1)
EARLY_WAIT_S = 2.0
"""How long readings copied ahead wait for the commit before theirs (``BatchWriter.commit``)."""


@dataclass
class WriteResult:
    """What one batch did."""

    written: int = 0
    duplicates: int = 0
    late: int = 0
    events: int = 0
    """New rows in ``meter_events`` (an event judged again after a late reading is not new)."""
    events_withdrawn: int = 0
    """Stored events that a late reading showed were none (their rows deleted)."""
    rejected: int = 0
    replanned: bool = False
    """The meter states differed from what ``prepare`` expected: stepped again."""
    recopied: int = 0
    """Readings copied ahead of the meter locks, rolled back and written again (``commit``)."""
    sites: set[str] = field(default_factory=set)
    newest_time: datetime | None = None


_State = tuple[int, float]
"""A meter's newest stored reading: (time in micros, canonical value)."""


@dataclass(frozen=True)
class Plan:
    """What one batch writes, worked out against ``states_before`` (``BatchWriter.prepare``)."""

    batch: SortedBatch
    repeats: int
    states_before: dict[str, _State | None]
    now: datetime
    late: list[tuple[MeterInfo, list[DecodedReading]]]  # at or before the meter's state
    fresh: Fresh | None  # newer than the state, stepped
    copy_data: bytes | None  # ``fresh`` as binary COPY data (PostgreSQL)
    states: list[dict[str, Any]]  # meter_state rows after the batch
    deltas: RollupDeltas  # of ``fresh``; the late path adds its own when it runs
    events: list[dict[str, Any]]
    result: WriteResult


class _StaleCopyError(Exception):
    """Readings copied ahead of the meter locks were stepped on states that changed, or
    the commit before theirs did not end in time."""


class _ReadingsAheadError(Exception):
    """A meter has stored readings newer than its ``meter_state`` (should not happen)."""


class BatchWriter:
    """Writes decoded readings and rejections, one transaction per batch."""

    def __init__(self, factory: sessionmaker[Session], plant: Plant, storage: StorageInfo) -> None:
        self._factory = factory
        self._postgres = storage.mode is not StorageMode.SQLITE
        self._meters: dict[str, MeterInfo] = {}
        for site, meter in plant.meters():
            self._meters[meter.id] = MeterInfo(
                site_id=site.id,
                meter=meter,
                spec=meter.register_spec(),
                zone=site.zone,
                expected_us=timedelta(seconds=meter.expected_interval_s) // _MICROSECOND,
            )
        self._meter_index = {meter_id: i for i, meter_id in enumerate(self._meters)}
        self._multipliers = np.array([i.meter.multiplier for i in self._meters.values()])
        # per meter, after the last prepared batch. ``prepare`` and ``commit`` run in two
        # worker threads at once (the ingester prepares a batch while one commits) and both
        # move it: every read and write of it holds ``_expected_lock``.
        self._expected: dict[str, _State] = {}
        self._expected_lock = threading.Lock()
        self._state_upsert, self._rollups_upsert = self._upserts()

    def write(
        self, readings: Sequence[DecodedReading], rejections: Sequence[Rejection], *, now: datetime
    ) -> WriteResult:
        """Store a batch; commits before returning, raises (nothing committed) on DB errors."""
        return self.commit(self.prepare(readings, now=now), rejections)

    def ping(self) -> None:
        """Raise unless the database answers (tells an outage from a refused batch)."""
        with self._factory() as session:
            session.execute(text("SELECT 1"))

    def prepare(self, readings: Sequence[DecodedReading], *, now: datetime) -> Plan:
        """Everything about a batch that needs no database, done ahead (no I/O).

        The registers are stepped against the meter states this writer expects: what it
        committed or prepared last. ``commit`` checks that expectation against the
        database under the meter locks and plans again where it was wrong (another
        ingester wrote, a batch failed), so a plan is a prediction, never a risk.
        """
        batch, repeats = self._sort(readings)
        with self._expected_lock:
            states = {m: self._expected.get(m) for m, _, _ in batch.runs}
        plan = self._plan(batch, repeats, states, now)
        self._expect(plan)
        return plan

    def commit(
        self,
        plan: Plan,
        rejections: Sequence[Rejection],
        *,
        after: Callable[[float | None], bool] | None = None,
        sparkplug: SparkplugEffects | None = None,
    ) -> WriteResult:
        """Write a prepared batch and the rejections in one transaction, and commit it.

        Raises (nothing committed) on database errors; the same plan may be committed again.

        Args:
            plan: from ``prepare``.
            rejections: dead letters to store in the same transaction.
            after: waits (up to the seconds given, ``None``: for good) until the commit of
                the batch before this one has ended, True if it has; called before the
                meter locks are taken, so batches lock (and step their registers) in the
                order they were prepared even while two are committing.
            sparkplug: meters declared offline and the host's births, in the same
                transaction (``ingest.sparkplug_store``).
        """
        direct = early = self._postgres
        recopied = 0
        while True:
            try:
                result = self._transaction(
                    plan, rejections, after, direct=direct, early=early, sparkplug=sparkplug
                )
                result.recopied = recopied
                return result
            except _StaleCopyError as exc:
                log.info("ingest: batch copied ahead written again, locks first: %s", exc)
                early = False
                recopied += 1
            except _ReadingsAheadError:
                if not direct:
                    raise
                log.warning(
                    "ingest: readings newer than meter_state found for meters %s; "
                    "writing this batch through the conflict-checking path",
                    ", ".join(run[0] for run in plan.batch.runs),
                )
                direct = early = False

    def _expect(self, plan: Plan) -> None:
        with self._expected_lock:
            for row in plan.states:
                self._expected[row["meter_id"]] = (micros(row["last_time"]), row["last_value"])

    def _transaction(
        self,
        plan: Plan,
        rejections: Sequence[Rejection],
        after: Callable[[float | None], bool] | None,
        *,
        direct: bool,
        early: bool,
        sparkplug: SparkplugEffects | None = None,
    ) -> WriteResult:
        """One transaction: lock the meters, check the plan's states, write.

        ``early`` (PostgreSQL, straight COPY): the new readings are copied *before* the
        meter locks are taken, so that the database takes them in while the previous
        batch, holding those locks, still commits. The rows stay invisible until this
        transaction commits; if the states then turn out not to be the plan's, the
        whole transaction is rolled back (``_StaleCopyError``) and done again, locks
        first. Its rows cannot clash with the previous batch's: they are newer than any
        reading of it. But the database may make the previous batch wait on this
        transaction all the same (TimescaleDB locks a chunk it creates until the creating
        transaction ends), so it waits for the previous one only ``EARLY_WAIT_S`` before
        it rolls back.
        """
        replanned = False
        copied = early and direct and plan.copy_data is not None
        with self._factory() as session, session.begin():
            if copied:
                assert plan.copy_data is not None
                _copy_readings(session, plan.copy_data, direct=True)
                if after is not None and not after(EARLY_WAIT_S):
                    raise _StaleCopyError(f"the batch before took over {EARLY_WAIT_S} s")
            elif after is not None:
                after(None)  # nothing done yet in this transaction: nothing held
            if plan.batch.runs:
                meter_ids = [run[0] for run in plan.batch.runs]
                self._lock(session, sorted(meter_ids))
                states: dict[str, _State | None] = dict.fromkeys(meter_ids)
                for row in session.execute(
                    select(
                        MeterStateRow.meter_id, MeterStateRow.last_time, MeterStateRow.last_value
                    ).where(MeterStateRow.meter_id.in_(meter_ids))
                ):
                    states[row.meter_id] = (micros(row.last_time), row.last_value)
                if states != plan.states_before:
                    if copied:
                        raise _StaleCopyError("meter states were not the expected ones")
                    plan = self._plan(plan.batch, plan.repeats, states, plan.now)
                    self._expect(plan)
                    replanned = True
            result = dataclasses.replace(
                plan.result,
                sites=set(plan.result.sites),
                rejected=len(rejections),
                replanned=replanned,
            )
            if plan.batch.runs:
                self._execute(session, plan, result, direct=direct, copied=copied)
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
            if sparkplug:
                sparkplug_store.apply(session, sparkplug, plan.now)
        return result

    def sparkplug_births(self, host_id: str) -> list[tuple[str, bytes]]:
        """The Sparkplug host's births as its last commit kept them (for a restart)."""
        with self._factory() as session:
            return sparkplug_store.load_births(session, host_id)

    # -- sorting and locking -------------------------------------------------------------------

    def _sort(self, readings: Sequence[DecodedReading]) -> tuple[SortedBatch, int]:
        return sort_readings(readings, self._meter_index, self._multipliers)

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

    def _plan(
        self,
        batch: SortedBatch,
        repeats: int,
        states: dict[str, _State | None],
        now: datetime,
    ) -> Plan:
        """What the batch writes, given each meter's newest stored reading (no I/O)."""
        result = WriteResult(duplicates=repeats)
        deltas = RollupDeltas()
        events: list[dict[str, Any]] = []
        late: list[tuple[MeterInfo, list[DecodedReading]]] = []
        runs: list[tuple[MeterInfo, MeterRun]] = []
        fresh: list[range] = []  # positions in the batch of the readings newer than the state
        size = 0
        for meter_id, start, stop in batch.runs:
            info = self._meters[meter_id]
            state = states.get(meter_id)
            previous: RegisterPoint | None = None
            split = start
            if state is not None:
                previous = RegisterPoint(from_micros(state[0]), state[1])
                times = batch.columns.time_us[start:stop]
                split += int(np.searchsorted(times, state[0], side="right"))
                if split > start:
                    late.append((info, batch.columns.readings[start:split]))
            if split < stop:
                runs.append((info, MeterRun(info.spec, size, size + stop - split, previous)))
                fresh.append(range(split, stop))
                size += stop - split
        rows: Fresh | None = None
        copy_data: bytes | None = None
        states_after: list[dict[str, Any]] = []
        if runs:
            rows, states_after = self._step_fresh(batch, fresh, runs, now, deltas, events, result)
            if self._postgres:
                copy_data = rows.copy_data(now)
        return Plan(
            batch, repeats, states, now, late, rows, copy_data, states_after, deltas, events, result
        )

    def _execute(
        self, session: Session, plan: Plan, result: WriteResult, *, direct: bool, copied: bool
    ) -> None:
        """Write a plan whose meter states hold: late readings, new ones (unless ``copied``
        already), state, rollups."""
        deltas = plan.deltas.copy()  # the plan stays as it was, to be committed again
        events = list(plan.events)
        replaced = 0  # stored events judged again: their row is deleted, then inserted anew
        for info, late in plan.late:
            inserted, duplicates, renewed, withdrawn = write_late(
                session, self._insert, info, late, plan.now, deltas, events
            )
            replaced += renewed
            result.events_withdrawn += withdrawn
            result.duplicates += duplicates
            if inserted:
                result.written += inserted
                result.late += inserted
                result.sites.add(info.site_id)
        if plan.fresh is not None:
            self._store_fresh(session, plan, direct=direct, copied=copied)
        if events:
            session.execute(self._insert(MeterEventRow).on_conflict_do_nothing(), events)
        # each stored event counted once: one judged again replaces its row
        result.events += len(events) - replaced
        rollups = deltas.rows()
        if rollups:
            self._upsert(session, self._rollups_upsert, rollups)

    def _step_fresh(
        self,
        batch: SortedBatch,
        fresh: list[range],
        runs: list[tuple[MeterInfo, MeterRun]],
        now: datetime,
        deltas: RollupDeltas,
        events: list[dict[str, Any]],
        result: WriteResult,
    ) -> tuple[Fresh, list[dict[str, Any]]]:
        """Step the readings newer than each meter's state (the hot path), as arrays.

        Returns the stepped readings and each meter's new ``meter_state``.
        """
        columns = batch.columns
        if sum(len(r) for r in fresh) != len(columns.readings):
            columns = columns.take(np.concatenate([np.arange(r.start, r.stop) for r in fresh]))
        time_us, value = columns.time_us, columns.value
        stepped = step_runs(time_us, value, [run for _, run in runs])
        quantity, quality = stepped.quantity, stepped.quality

        lengths = [run.stop - run.start for _, run in runs]
        expected_us = np.repeat([info.expected_us for info, _ in runs], lengths)
        since_us = np.where(stepped.has_previous, stepped.previous_us, time_us - expected_us)
        deltas.add_runs(
            [RunBuckets(info.meter.id, info.zone, run.start, run.stop) for info, run in runs],
            since_us,
            time_us,
            quantity,
            quality,
        )
        for i, judged in stepped.full.items():
            if judged.event is not None:
                reading = columns.readings[i]
                before = float(stepped.previous_value[i]) if stepped.has_previous[i] else None
                time = from_micros(int(time_us[i]))
                events.append(
                    event_row(reading.meter_id, time, float(value[i]), judged, before, now)
                )

        states: list[dict[str, Any]] = []
        for info, run in runs:
            last = run.stop - 1
            known = not isnan(quantity[last])
            elapsed_s = float(stepped.elapsed_s[last])
            if info.spec.kind is RegisterKind.INSTANTANEOUS:
                rate: float | None = float(value[last])
            elif known and elapsed_s > 0:  # NaN: no previous reading
                rate = float(quantity[last]) * 3600 / elapsed_s
            else:
                rate = None
            states.append(
                {
                    "meter_id": info.meter.id,
                    "last_time": from_micros(int(time_us[last])),
                    "last_value": float(value[last]),
                    "last_quantity": float(quantity[last]) if known else None,
                    "last_rate_per_h": rate,
                    "received_at": now,
                }
            )
            result.sites.add(info.site_id)
        newest = from_micros(int(max(time_us[run.stop - 1] for _, run in runs)))
        if result.newest_time is None or newest > result.newest_time:
            result.newest_time = newest
        result.written += len(columns.readings)
        meter_ids = [info.meter.id for info, _ in runs]
        meter = np.repeat(np.arange(len(runs)), lengths)
        return Fresh(columns, meter_ids, meter, quantity, quality), states

    def _store_fresh(self, session: Session, plan: Plan, *, direct: bool, copied: bool) -> None:
        """Insert the stepped readings and move each meter's state to its newest one."""
        assert plan.fresh is not None
        if plan.copy_data is None:
            session.execute(
                self._insert(ReadingRow).on_conflict_do_nothing(), plan.fresh.params(plan.now)
            )
        elif not copied:  # else copied already, before the locks (``_transaction``)
            _copy_readings(session, plan.copy_data, direct=direct)
        self._upsert(session, self._state_upsert, plan.states)

    def _upserts(self) -> tuple[Any, Any]:
        """The meter_state and rollups upserts: on PostgreSQL one statement each taking
        all rows as one JSON text (encoded in C: binding hundreds of values one by one
        costs more than the database's work), on SQLite an executemany."""
        if self._postgres:
            return text(_STATE_UPSERT), text(_ROLLUPS_UPSERT)
        state = self._insert(MeterStateRow)
        rollups = self._insert(RollupRow)
        return (
            state.on_conflict_do_update(
                index_elements=["meter_id"],
                set_={c: state.excluded[c] for c in _STATE_COLUMNS[1:]} | {"offline_since": None},
                where=MeterStateRow.last_time < state.excluded.last_time,
            ),
            rollups.on_conflict_do_update(
                index_elements=["meter_id", "resolution", "bucket_start"],
                set_={
                    "quantity": RollupRow.quantity + rollups.excluded.quantity,
                    "samples": RollupRow.samples + rollups.excluded.samples,
                    "estimated": RollupRow.estimated + rollups.excluded.estimated,
                },
            ),
        )

    def _upsert(self, session: Session, statement: Any, rows: list[dict[str, Any]]) -> None:
        if self._postgres:
            session.execute(statement, {"rows": _JSON.encode(rows).decode()})
        else:
            session.execute(statement, rows)

    def _insert(self, model: type[Any]) -> Any:
        dialect: Any = postgresql if self._postgres else sqlite
        statement: Insert = dialect.insert(model)
        return statement


_READING_COLUMNS = "meter_id, time, raw_value, raw_unit, value, quantity, quality, seq, received_at"
_STATE_COLUMNS = (
    "meter_id",
    "last_time",
    "last_value",
    "last_quantity",
    "last_rate_per_h",
    "received_at",
)
_JSON = msgspec.json.Encoder()  # floats as the shortest text that reads back exactly
_STATE_UPSERT = (
    f"INSERT INTO meter_state ({', '.join(_STATE_COLUMNS)}) "
    "SELECT * FROM json_to_recordset(CAST(:rows AS json)) AS r(meter_id text, "
    "last_time timestamptz, last_value float8, last_quantity float8, last_rate_per_h float8, "
    "received_at timestamptz) "
    "ON CONFLICT (meter_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _STATE_COLUMNS[1:])
    + ", offline_since = NULL"  # a newer reading: no longer declared offline
    + " WHERE meter_state.last_time < excluded.last_time"
)
_ROLLUPS_UPSERT = (
    "INSERT INTO rollups (meter_id, resolution, bucket_start, quantity, samples, estimated) "
    "SELECT * FROM json_to_recordset(CAST(:rows AS json)) AS r(meter_id text, "
    "resolution text, bucket_start timestamptz, quantity float8, samples int4, estimated int4) "
    "ON CONFLICT (meter_id, resolution, bucket_start) DO UPDATE SET "
    "quantity = rollups.quantity + excluded.quantity, "
    "samples = rollups.samples + excluded.samples, "
    "estimated = rollups.estimated + excluded.estimated"
)


def _copy_readings(session: Session, data: bytes, *, direct: bool) -> None:
    """Binary COPY of new readings, straight into ``readings`` when ``direct``.

    Under the meter locks, a reading newer than its meter's ``meter_state`` cannot be
    stored yet (the state moves in the same transaction as the readings), so COPY needs
    no conflict check; should one conflict all the same, ``_ReadingsAheadError`` makes
    the caller redo the batch with ``direct=False``: COPY into a per-connection staging
    table, then one ``INSERT … ON CONFLICT DO NOTHING``.
    """
    connection = session.connection()
    raw: Any = connection.connection.driver_connection
    with raw.cursor() as cursor:
        if not direct and not connection.info.get("readings_staging"):
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS readings_staging "
                "(LIKE readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
            connection.info["readings_staging"] = True
        target = "readings" if direct else "readings_staging"
        try:
            with cursor.copy(
                f"COPY {target} ({_READING_COLUMNS}) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.write(data)
        except UniqueViolation as exc:
            raise _ReadingsAheadError(str(exc)) from exc
        if not direct:
            cursor.execute(
                f"INSERT INTO readings ({_READING_COLUMNS}) "
                f"SELECT {_READING_COLUMNS} FROM readings_staging ON CONFLICT DO NOTHING"
            )
            # ON COMMIT DELETE ROWS empties it at commit; a rolled-back batch leaves nothing
            cursor.execute("TRUNCATE readings_staging")
