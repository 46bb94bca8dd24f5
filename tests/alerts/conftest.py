"""A small plant, a writer that stores readings like the ingester does, and engines.

The engine reads only the database, so the tests write ``meter_state``, rollups and
register events through the real ``BatchWriter`` and drive the engine with an explicit
``now`` (simulated time: no test sleeps through minutes).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.alerts.engine import AlertEngine, AlertTransition
from app.alerts.models import AlertRow
from app.alerts.webhooks import WebhookConfig
from app.config import Settings
from app.domain.plant import Plant
from app.plant.file import parse_plant
from app.plant.sync import sync_plant
from ingest.decode import DecodedReading
from ingest.writer import BatchWriter
from tests.conftest import Backend

SITE = "plant-a"
# Tuesday 16 June 2026, 10:00 in Gui'an (UTC+8): a working morning
T0 = datetime(2026, 6, 16, 2, 0, tzinfo=UTC)

PLANT_YAML = """
name: Alert test plant
sites:
- id: plant-a
  name: Test plant
  timezone: Asia/Shanghai
  latitude: 26.41
  longitude: 106.47
  country: CN
  alerts:
    spike_min_duration_s: 120
    offline_missed_intervals: 3
  areas:
  - id: press
    name: Press shop
  - id: roof
    name: Roof PV
  meters:
  - id: el-press-1
    name: Press line 1
    area: press
    resource: electricity
    register: cumulative
    unit: kWh
    expected_interval_s: 60
    rated_kw: 500
  - id: el-press-2
    name: Press line 2
    area: press
    resource: electricity
    register: instantaneous
    unit: kW
    expected_interval_s: 60
    rated_kw: 500
  - id: pv-roof
    name: Roof PV inverter
    area: roof
    resource: pv
    register: instantaneous
    unit: kW
    expected_interval_s: 60
    rated_kw: 1000
"""

UNITS = {"el-press-1": "kWh", "el-press-2": "kW", "pv-roof": "kW"}


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


@pytest.fixture
def plant() -> Plant:
    return parse_plant(PLANT_YAML)


@dataclass
class Line:
    """Writes readings of the test plant as the ingester would and keeps registers."""

    backend: Backend
    plant: Plant
    writer: BatchWriter
    registers: dict[str, float] = field(default_factory=dict)
    last_time: dict[str, datetime] = field(default_factory=dict)

    def value(self, meter: str, at: datetime, value: float) -> None:
        """One raw reading (a register value for cumulative meters, kW otherwise)."""
        reading = DecodedReading.at(SITE, meter, at, value, UNITS[meter], None)
        self.writer.write([reading], [], now=at)
        self.last_time[meter] = at

    def power(self, meter: str, at: datetime, kw: float) -> None:
        """A reading that makes the meter's rate ``kw`` since its previous reading."""
        if UNITS[meter] == "kW":
            self.value(meter, at, kw)
            return
        previous = self.last_time.get(meter)
        register = self.registers.get(meter, 1000.0)
        if previous is not None:
            register += kw * (at - previous).total_seconds() / 3600
        self.registers[meter] = register
        self.value(meter, at, register)

    def history(self, meter: str, start: datetime, end: datetime, kw: float) -> None:
        """Constant ``kw`` from ``start`` to ``end``: what the baseline is built from.

        Registers are read hourly; instantaneous meters every 5 minutes, the longest
        gap over which the writer still integrates power.
        """
        readings: list[DecodedReading] = []
        register = self.registers.get(meter, 1000.0)
        instantaneous = UNITS[meter] == "kW"
        step = timedelta(minutes=5) if instantaneous else timedelta(hours=1)
        at = start
        while at <= end:
            if at > start:
                register += kw * step.total_seconds() / 3600
            value = kw if instantaneous else register
            readings.append(DecodedReading.at(SITE, meter, at, value, UNITS[meter], None))
            at += step
        self.writer.write(readings, [], now=end)
        self.registers[meter] = register
        self.last_time[meter] = end


@pytest.fixture
def line(clean_backend: Backend, plant: Plant) -> Line:
    sync_plant(clean_backend.factory, plant)
    return Line(
        clean_backend, plant, BatchWriter(clean_backend.factory, plant, clean_backend.storage)
    )


def make_engine(
    backend: Backend, plant: Plant, *, webhooks: WebhookConfig | None = None, **kwargs: Any
) -> AlertEngine:
    settings = Settings(database_url=backend.url, mqtt_url="mqtt://127.0.0.1:1")
    return AlertEngine(
        backend.factory,
        plant,
        settings,
        webhooks=webhooks or WebhookConfig(),
        publish_mqtt=False,
        **kwargs,
    )


def keyed(transitions: Iterable[AlertTransition], key: str) -> list[tuple[str, datetime]]:
    return [(t.event, t.at) for t in transitions if t.condition_key == key]


def alert_rows(backend: Backend, key: str | None = None) -> list[AlertRow]:
    with backend.factory() as session:
        query = select(AlertRow).order_by(AlertRow.id)
        if key is not None:
            query = query.where(AlertRow.condition_key == key)
        return list(session.scalars(query))
