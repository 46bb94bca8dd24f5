"""Counters equal table rows: register events counted once, even when judged again."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.db.models import MeterEventRow
from app.plant.file import load_plant
from app.plant.sync import sync_plant
from ingest.decode import DecodedReading
from ingest.writer import BatchWriter
from tests.conftest import Backend

T0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
PLANT = load_plant()


def _reading(minute: int, value: float) -> DecodedReading:
    return DecodedReading.at("guian", "el-comp-01", T0 + timedelta(minutes=minute), value, "kWh")


def _events(backend: Backend) -> int:
    with backend.factory() as session:
        return session.scalar(select(func.count()).select_from(MeterEventRow)) or 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_event_rows_equal_events_counted_minus_withdrawn(clean_backend: Backend, seed: int) -> None:
    """A register reset is judged on a sparse run, then judged again (and moved to an
    earlier reading) as late readings fill the run in."""
    sync_plant(clean_backend.factory, PLANT)
    writer = BatchWriter(clean_backend.factory, PLANT, clean_backend.storage)
    rng = random.Random(seed)
    minutes = sorted(rng.sample(range(0, 300), 60))
    reset_at = minutes[len(minutes) // 2 + 1]  # not in the sparse run below
    values = {m: 1000.0 + 2 * m if m < reset_at else 2.0 * (m - reset_at) for m in minutes}
    order = minutes[::3] + rng.sample(minutes, len(minutes))  # a sparse run first, then late
    counted = withdrawn = 0
    for start in range(0, len(order), 7):
        batch = [_reading(m, values[m]) for m in order[start : start + 7]]
        result = writer.write(batch, [], now=NOW)
        counted += result.events
        withdrawn += result.events_withdrawn
        assert _events(clean_backend) == counted - withdrawn
    assert counted > 0, "the reset is an event"
    assert withdrawn > 0, "filling the run in moves the reset to an earlier reading"


def test_every_metric_is_documented() -> None:
    import re
    from pathlib import Path

    from ingest.metrics import IngestMetrics

    doc = (Path(__file__).resolve().parents[2] / "docs" / "mqtt.md").read_text()
    documented = set(re.findall(r"^\| `(greenpulse_ingest_[a-z_]+)", doc, re.MULTILINE))
    exposed = set()
    for metric in IngestMetrics().registry.collect():
        name = metric.name + ("_total" if metric.type == "counter" else "")
        exposed.add(name)
    assert documented == exposed
