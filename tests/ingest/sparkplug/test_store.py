"""Sparkplug readings through the batch writer: every value stored once, dead letters kept.

The ingest loop is not wired yet; this holds the adapter's output to what the writer
takes, on SQLite, PostgreSQL and TimescaleDB.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.db.models import ReadingRow, RejectedMessageRow
from app.plant.file import load_plant
from app.plant.sync import sync_plant
from ingest.decode import DecodedReading, Rejection
from ingest.sparkplug import decode_sparkplug
from ingest.sparkplug.proto import DataType
from ingest.writer import BatchWriter
from tests.conftest import Backend
from tests.ingest.sparkplug.support import DEVICE, T0, T0_MS, Edge, host_state, topic

NOW = T0 + timedelta(days=1)


def test_a_session_with_rebirths_stores_each_value_once(clean_backend: Backend) -> None:
    plant = load_plant()
    sync_plant(clean_backend.factory, plant)
    writer = BatchWriter(clean_backend.factory, plant, clean_backend.storage)
    state, edge = host_state(), Edge()
    readings: list[DecodedReading] = []
    rejections: list[Rejection] = []

    def feed(name: str, payload: bytes) -> None:
        out = decode_sparkplug(name, payload, NOW, state)
        readings.extend(out.readings)
        rejections.extend(out.rejections)

    feed(topic("NBIRTH"), edge.nbirth())
    feed(topic("DBIRTH", DEVICE), edge.dbirth(energy=1000.0))
    published = {T0_MS: 1000.0}
    for i in range(1, 301):
        ts = T0_MS + 60_000 * i
        published[ts] = 1000.0 + i
        feed(topic("DDATA", DEVICE), edge.ddata(ts, [(10, DataType.DOUBLE, published[ts])]))
        if i == 150:  # a rebirth mid-way repeats the last values in the births
            feed(topic("NBIRTH"), edge.nbirth())
            feed(topic("DBIRTH", DEVICE), edge.dbirth(ts_ms=ts, energy=published[ts]))
    feed(topic("DDATA", DEVICE), edge.ddata(T0_MS + 1, [(99, DataType.DOUBLE, 1.0)]))
    assert len(readings) > len(published)  # the births repeat values

    # as the loop will: batches, one redelivered in full
    for start in range(0, len(readings), 100):
        writer.write(readings[start : start + 100], [], now=NOW)
    writer.write(readings[:100], rejections, now=NOW)

    with clean_backend.factory() as session:
        rows = session.execute(
            select(ReadingRow.time, ReadingRow.raw_value)
            .where(ReadingRow.meter_id == "el-grid-in-1")
            .order_by(ReadingRow.time)
        ).all()
        dead = session.execute(
            select(RejectedMessageRow.reason, func.count()).group_by(RejectedMessageRow.reason)
        ).all()
    stored = {int(_utc(t).timestamp() * 1000): v for t, v in rows}
    assert len(rows) == len(stored) == len(published)
    assert stored == published
    assert dict(dead) == {"sparkplug_unknown_alias": 1}


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
