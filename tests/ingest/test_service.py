"""The ingest loop in-process, against a throwaway Mosquitto and a real SQLite database."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from app.config import Settings
from app.db.engine import make_engine, make_sessionmaker
from app.db.models import ReadingRow, RejectedMessageRow
from app.db.timescale import StorageInfo, StorageMode
from app.plant.file import load_plant
from ingest.broker import Mosquitto
from ingest.decode import DecodedReading, Rejection
from ingest.service import Ingester, IngestOptions
from ingest.writer import BatchWriter, WriteResult
from tests.ingest.conftest import Database

pytestmark = pytest.mark.mqtt

FAST = IngestOptions(batch_ms=20, summary_interval_s=3600, retry_initial_s=0.05, retry_max_s=0.1)


def _settings(broker: Mosquitto, client_id: str, **extra: object) -> Settings:
    return Settings(mqtt_url=broker.url, mqtt_client_id=client_id, **extra)  # type: ignore[arg-type]


async def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


async def _publish(broker: Mosquitto, messages: Sequence[tuple[str, bytes]]) -> None:
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="gp-test-pub") as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=1)


async def test_good_and_rejected_messages_are_stored_counted_and_acknowledged(
    mosquitto: Mosquitto, make_database: Callable[[str], Database]
) -> None:
    db = make_database("sqlite")
    engine = make_engine(db.url)
    factory = make_sessionmaker(engine)
    plant = load_plant()
    writer = BatchWriter(factory, plant, StorageInfo(StorageMode.SQLITE, "test"))
    ingester = Ingester(_settings(mosquitto, "gp-test-inproc"), plant, writer, FAST)
    stop = asyncio.Event()
    task = asyncio.create_task(ingester.run(stop))
    m = ingester.metrics
    await _wait(lambda: m.value(m.reconnects) == 1, 10, "connected")

    ts = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    good = json.dumps({"ts": ts, "value": 100.0, "unit": "kWh", "seq": 1}).encode()
    wrong_unit = json.dumps({"ts": ts, "value": 5.0, "unit": "m3"}).encode()
    gateway = json.dumps(
        {
            "gateway": "gw-1",
            "readings": [
                {"meter": "gas-boiler-01", "ts": ts, "value": 7.0, "unit": "m3"},
                {"meter": "gas-boiler-01", "ts": ts, "value": -7.0, "unit": "m3"},
            ],
        }
    ).encode()
    await _publish(
        mosquitto,
        [
            ("greenpulse/guian/el-grid-in-1/reading", good),
            ("greenpulse/guian/el-office/reading", wrong_unit),
            ("greenpulse/guian/el-office/reading", b"{oops"),
            ("greenpulse/guian/gateway/gw-1/batch", gateway),
        ],
    )
    await _wait(lambda: m.value(m.acked) == 4, 10, "all four messages acknowledged")
    stop.set()
    await asyncio.wait_for(task, 15)

    with factory() as session:
        readings = session.execute(select(ReadingRow.meter_id, ReadingRow.raw_value)).all()
        rejected = session.execute(
            select(RejectedMessageRow.reason, RejectedMessageRow.meter_id, RejectedMessageRow.topic)
        ).all()
    engine.dispose()
    assert sorted(readings) == [("el-grid-in-1", 100.0), ("gas-boiler-01", 7.0)]
    assert sorted(rejected) == [
        ("malformed_json", "el-office", "greenpulse/guian/el-office/reading"),
        ("negative_value", "gas-boiler-01", "greenpulse/guian/gateway/gw-1/batch"),
        ("unit_mismatch", "el-office", "greenpulse/guian/el-office/reading"),
    ]
    assert m.value(m.messages) - m.value(m.ignored) == 4  # and our own live hints, ignored
    assert m.value(m.readings) == 2
    assert m.value(m.written) == 2
    assert m.value(m.rejected.labels("unit_mismatch")) == 1
    assert m.value(m.rejected.labels("malformed_json")) == 1
    assert m.value(m.rejected.labels("negative_value")) == 1
    assert m.rejected_total() == 3


class ListWriter:
    """A writer whose plan is the list of readings; subclasses say what ``store`` does."""

    def prepare(self, readings: Sequence[DecodedReading], *, now: datetime) -> list[DecodedReading]:
        return list(readings)

    def commit(
        self,
        readings: list[DecodedReading],
        rejections: Sequence[Rejection],
        *,
        after: Callable[[float | None], bool] | None = None,
    ) -> WriteResult:
        return self.store(readings, rejections)

    def store(self, readings: list[DecodedReading], rejections: Sequence[Rejection]) -> WriteResult:
        raise NotImplementedError


class FlakyWriter(ListWriter):
    """Fails like a database that is down, ``failures`` times, then records the batch."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.batches: list[list[DecodedReading]] = []

    def store(self, readings: list[DecodedReading], rejections: Sequence[Rejection]) -> WriteResult:
        self.calls += 1
        if self.calls <= self.failures:
            raise OperationalError("INSERT", {}, ConnectionRefusedError("connection refused"))
        self.batches.append(list(readings))
        return WriteResult(written=len(readings), rejected=len(rejections))


@pytest.mark.parametrize("mqtt_v5", [True, False], ids=["mqtt5", "mqtt311"])
async def test_nothing_is_acknowledged_until_the_batch_commits(
    mqtt_v5: bool, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    writer = FlakyWriter(failures=5)
    options = dataclasses.replace(FAST, mqtt_v5=mqtt_v5)
    ingester = Ingester(
        _settings(mosquitto, f"gp-test-flaky-{mqtt_v5}"), load_plant(), writer, options
    )
    m = ingester.metrics
    stop = asyncio.Event()
    task = asyncio.create_task(ingester.run(stop))
    await _wait(lambda: m.value(m.reconnects) == 1, 10, "connected")
    ts = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    payload = json.dumps({"ts": ts, "value": 1.0, "unit": "kWh"}).encode()
    await _publish(mosquitto, [("greenpulse/guian/el-office/reading", payload)])
    await _wait(lambda: writer.calls >= 3, 10, "retrying")
    assert m.value(m.acked) == 0, "acknowledged before the commit"
    await _wait(lambda: m.value(m.acked) == 1, 10, "acknowledged after the commit")
    stop.set()
    await asyncio.wait_for(task, 15)
    assert writer.calls == 6
    assert [len(b) for b in writer.batches] == [1]  # the same batch, retried, not dropped
    assert m.value(m.db_retries) == 5
    errors = [r for r in caplog.records if "database write failed" in r.getMessage()]
    assert len(errors) == 1, "logged once per outage"


async def test_shared_group_topics_and_options_from_env(mosquitto: Mosquitto) -> None:
    settings = _settings(mosquitto, "gp-x", mqtt_share_group="ingest", mqtt_topic_prefix="gp")
    ingester = Ingester(settings, load_plant(), FlakyWriter(0))
    assert ingester.topics() == ["$share/ingest/gp/#", "$share/ingest/spBv1.0/#"]
    options = IngestOptions.from_env(
        {
            "GREENPULSE_INGEST_BATCH_READINGS": "100",
            "GREENPULSE_INGEST_BATCH_MS": "10",
            "GREENPULSE_INGEST_METRICS_PORT": "9108",
            "GREENPULSE_INGEST_RECEIVE_MAXIMUM": "500",
        }
    )
    assert (options.batch_readings, options.batch_ms) == (100, 10.0)
    assert (options.metrics_port, options.receive_maximum) == (9108, 500)
    with pytest.raises(ValueError, match="receive_maximum"):
        IngestOptions(receive_maximum=70_000)
    with pytest.raises(ValueError, match="valid integer"):
        IngestOptions.from_env({"GREENPULSE_INGEST_BATCH_READINGS": "20000.7"})
    with pytest.raises(ValueError, match="receive_maximum"):
        IngestOptions.from_env({"GREENPULSE_INGEST_RECEIVE_MAXIMUM": "70000"})


def test_recommended_broker_config_is_the_one_tests_run(mosquitto: Mosquitto) -> None:
    config = Path(mosquitto.config_file).read_text()
    assert "max_queued_messages 0" in config
    assert "persistence true" in config
    assert "max_queued_bytes" in config
    assert f"listener {mosquitto.port} 127.0.0.1" in config


class PoisonWriter(ListWriter):
    """Refuses (not a connection error) any batch holding a reading of ``poison``."""

    def __init__(self, poison: str) -> None:
        self.poison = poison
        self.readings: list[str] = []
        self.rejections: list[Rejection] = []

    def store(self, readings: list[DecodedReading], rejections: Sequence[Rejection]) -> WriteResult:
        if any(r.meter_id == self.poison for r in readings):
            raise ValueError("check constraint violated")
        self.readings += [r.meter_id for r in readings]
        self.rejections += rejections
        return WriteResult(written=len(readings), rejected=len(rejections))


async def test_a_message_the_database_refuses_is_set_aside_and_the_rest_goes_on(
    mosquitto: Mosquitto,
) -> None:
    writer = PoisonWriter("el-office")
    ingester = Ingester(_settings(mosquitto, "gp-test-poison"), load_plant(), writer, FAST)
    m = ingester.metrics
    stop = asyncio.Event()
    task = asyncio.create_task(ingester.run(stop))
    await _wait(lambda: m.value(m.reconnects) == 1, 10, "connected")
    ts = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    payload = json.dumps({"ts": ts, "value": 1.0, "unit": "kWh"}).encode()
    await _publish(
        mosquitto,
        [
            ("greenpulse/guian/el-grid-in-1/reading", payload),
            ("greenpulse/guian/el-office/reading", payload),
            ("greenpulse/guian/el-grid-in-2/reading", payload),
        ],
    )
    await _wait(lambda: m.value(m.acked) == 3, 10, "all three acknowledged")
    stop.set()
    await asyncio.wait_for(task, 15)
    assert sorted(writer.readings) == ["el-grid-in-1", "el-grid-in-2"]
    [dead] = writer.rejections
    assert (dead.reason, dead.meter_id, dead.payload) == ("write_failed", "el-office", payload)
    assert "check constraint violated" in dead.detail
    assert m.value(m.rejected.labels("write_failed")) == 1


async def test_a_committed_batch_is_announced_on_the_live_topic(
    mosquitto: Mosquitto, make_database: Callable[[str], Database]
) -> None:
    """API processes refresh a site's figures as soon as its batch commits."""
    db = make_database("sqlite")
    engine = make_engine(db.url)
    plant = load_plant()
    writer = BatchWriter(make_sessionmaker(engine), plant, StorageInfo(StorageMode.SQLITE, "t"))
    ingester = Ingester(_settings(mosquitto, "gp-test-live"), plant, writer, FAST)
    stop = asyncio.Event()
    task = asyncio.create_task(ingester.run(stop))
    m = ingester.metrics
    try:
        await _wait(lambda: m.value(m.reconnects) == 1, 10, "connected")
        async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="gp-test-api") as api:
            await api.subscribe("greenpulse/+/live")
            ts = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
            payload = json.dumps({"ts": ts, "value": 12.5, "unit": "kWh"}).encode()
            await _publish(mosquitto, [("greenpulse/guian/el-comp-01/reading", payload)])
            message = await asyncio.wait_for(anext(aiter(api.messages)), 10)
            assert str(message.topic) == "greenpulse/guian/live"
            assert m.value(m.written) == 1
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        engine.dispose()
