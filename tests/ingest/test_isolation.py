"""Nothing stops ingestion: refused writes are set aside, a crash-looping message is
quarantined, every message under the prefix is accounted for.

In-process ingesters against a throwaway Mosquitto and a real PostgreSQL database; the
database refuses for real (a CHECK constraint added by the test).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from sqlalchemy import text

from app.config import Settings
from app.db.engine import make_engine, make_sessionmaker
from app.db.timescale import detect_storage
from app.plant.file import load_plant
from ingest import pipeline
from ingest.broker import Mosquitto
from ingest.service import Ingester, IngestOptions
from ingest.writer import BatchWriter
from tests.ingest.conftest import Database

pytestmark = pytest.mark.mqtt

PLANT = load_plant()


def _options(**extra: Any) -> IngestOptions:
    return IngestOptions(
        batch_ms=30,
        summary_interval_s=3600,
        retry_initial_s=0.05,
        retry_max_s=0.1,
        **extra,
    )


def _payload(minute: int, value: float = 1.0) -> bytes:
    ts = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=minute)
    return json.dumps({"ts": ts.isoformat(), "value": value, "unit": "kWh"}).encode()


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


class Harness:
    def __init__(self, broker: Mosquitto, db: Database, client_id: str) -> None:
        self.engine = make_engine(db.url)
        with self.engine.connect() as conn:
            self.storage = detect_storage(conn)
        self.factory = make_sessionmaker(self.engine)
        self.settings = Settings(mqtt_url=broker.url, mqtt_client_id=client_id)
        self.db = db

    def ingester(self, options: IngestOptions) -> Ingester:
        writer = BatchWriter(self.factory, PLANT, self.storage)
        return Ingester(self.settings, PLANT, writer, options)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]

    def execute(self, sql: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(sql))


@pytest.fixture
def harness(
    mosquitto: Mosquitto, make_database: Callable[[str], Database], request: pytest.FixtureRequest
) -> Harness:
    h = Harness(mosquitto, make_database("postgresql"), f"gp-iso-{request.node.name[:20]}")
    request.addfinalizer(h.engine.dispose)
    return h


async def test_a_message_the_database_refuses_is_set_aside_and_the_rest_stored(
    mosquitto: Mosquitto, harness: Harness
) -> None:
    harness.execute("ALTER TABLE readings ADD CONSTRAINT test_refuses CHECK (raw_value <> 666)")
    # and dead letters of one reason, so that a batch of dead letters only is refused too
    harness.execute(
        "ALTER TABLE rejected_messages "
        "ADD CONSTRAINT test_refuses CHECK (reason <> 'unknown_meter')"
    )
    ingester = harness.ingester(_options())
    m = ingester.metrics
    stop = asyncio.Event()
    task = asyncio.create_task(ingester.run(stop))
    await _wait(lambda: m.value(m.reconnects) == 1, 10, "connected")
    good = [("greenpulse/guian/el-comp-01/reading", _payload(i)) for i in range(1, 21)]
    refused = ("greenpulse/guian/el-office/reading", _payload(3, 666))
    unknown = ("greenpulse/guian/no-such-meter/reading", _payload(3))
    await _publish(mosquitto, [*good[:10], refused, *good[10:]])
    await _wait(lambda: m.value(m.acked) == 21, 30, "all acknowledged")
    await _publish(mosquitto, [unknown])  # alone in its batch: dead letters only
    await _wait(lambda: m.value(m.acked) == 22, 30, "the lone dead letter acknowledged")
    stop.set()
    await asyncio.wait_for(task, 15)

    assert harness.rows("SELECT count(*) FROM readings WHERE meter_id = 'el-comp-01'") == [(20,)]
    letters = harness.rows("SELECT reason, topic, payload FROM rejected_messages ORDER BY id")
    assert [(r, t) for r, t, _ in letters] == [
        ("write_failed", refused[0]),
        ("write_failed", unknown[0]),
    ]
    assert [bytes(p) for _, _, p in letters] == [refused[1], unknown[1]]
    assert m.value(m.db_down) == 0, "the database was up all along"
    assert m.value(m.set_aside) == 1
    assert m.value(m.written) == 20
    assert m.value(m.rejected.labels("write_failed")) == 2
    assert m.rejected_total() == 2  # as committed: the unknown_meter letter became one


def _before_birth() -> bytes:
    """A DDATA of an edge node the host never saw born: its metric is a dead letter."""
    from ingest.sparkplug.proto import Payload

    payload = Payload(timestamp=1_796_000_000_000, seq=3)
    metric = payload.metrics.add()
    metric.alias, metric.timestamp, metric.double_value = 1, 1_796_000_000_000, 5.0
    return bytes(payload.SerializeToString())


async def test_every_topic_under_the_prefix_and_sparkplug_is_accounted_for(
    mosquitto: Mosquitto, harness: Harness
) -> None:
    ingester = harness.ingester(_options())
    m = ingester.metrics
    stop = asyncio.Event()
    task = asyncio.create_task(ingester.run(stop))
    await _wait(lambda: m.value(m.reconnects) == 1, 10, "connected")
    await _publish(
        mosquitto,
        [
            ("greenpulse/guian/meter/foo", b"{}"),
            ("greenpulse/x", b"1"),
            ("greenpulse/guian/gateway/gw/batch/more", b"{}"),
            ("spBv1.0/plant/NBIRTH/edge-1", b"\xff\xff"),  # not protobuf
            ("spBv1.0/plant/DDATA/edge-2/meter-7", _before_birth()),
            ("greenpulse/guian/live", b""),  # our own hint: ignored, but counted
            ("greenpulse/guian/el-comp-01/reading", _payload(1)),
        ],
    )
    await _wait(lambda: m.value(m.acked) == 7, 20, "all seven acknowledged")
    stop.set()
    await asyncio.wait_for(task, 15)
    reasons = harness.rows("SELECT reason, count(*) FROM rejected_messages GROUP BY 1 ORDER BY 1")
    assert reasons == [
        ("malformed_protobuf", 1),
        ("sparkplug_before_birth", 1),
        ("unknown_topic", 3),
    ]
    # six from outside; the rest are the ingester's own, back from its subscriptions:
    # live hints and the rebirth request the before-birth DDATA caused
    assert m.value(m.messages) - m.value(m.ignored) == 6
    assert m.value(m.sparkplug_commands) == 1 and m.value(m.ignored) >= 2
    assert m.value(m.written) == 1
    for reason, count in reasons:
        assert m.value(m.rejected.labels(reason)) == count


async def test_a_message_that_keeps_killing_the_ingester_is_quarantined(
    mosquitto: Mosquitto, harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug that escapes every handler: the loop dies each time the poison is in flight.

    Each death is a new ``Ingester`` with the same session and journal, as a supervisor
    restarting the process would make it.
    """
    poison = ("greenpulse/guian/el-office/reading", _payload(2, 4242))
    original = pipeline.Committer.commit

    async def buggy(self: pipeline.Committer, batch: list[pipeline.Pending], *a: Any) -> Any:
        if any(p.payload == poison[1] and p.readings for p in batch):
            raise RuntimeError("a bug in the write path")
        return await original(self, batch, *a)

    monkeypatch.setattr(pipeline.Committer, "commit", buggy)
    options = _options(journal_file=tmp_path / "journal.json", quarantine_after=3)
    good = [("greenpulse/guian/el-comp-01/reading", _payload(i)) for i in range(1, 31)]
    await _publish(mosquitto, [])  # nothing yet: the first run creates the session
    deaths = 0
    published = False
    for _ in range(6):
        ingester = harness.ingester(options)
        m = ingester.metrics
        stop = asyncio.Event()
        task = asyncio.create_task(ingester.run(stop))
        await _wait(lambda: m.value(m.reconnects) == 1, 10, "connected")  # noqa: B023
        if not published:
            await _publish(mosquitto, [*good[:15], poison, *good[15:]])
            published = True
        done, _ = await asyncio.wait({task}, timeout=5)
        if task in done:
            with pytest.raises(RuntimeError, match="a bug in the write path"):
                task.result()
            deaths += 1
            continue
        stop.set()
        await asyncio.wait_for(task, 15)
        break
    assert deaths == 3, "died with the poison in flight: among all, among suspects, alone"
    assert harness.rows("SELECT count(*) FROM readings WHERE meter_id = 'el-comp-01'") == [(30,)]
    assert harness.rows("SELECT count(*) FROM readings WHERE meter_id = 'el-office'") == [(0,)]
    ((reason, detail, payload),) = harness.rows(
        "SELECT reason, detail, payload FROM rejected_messages"
    )
    assert reason == "quarantined"
    assert bytes(payload) == poison[1]
    assert "RuntimeError: a bug in the write path" in detail
    assert "Traceback" in detail
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["inflight"] == [] and journal["strikes"] == {}


def test_quarantined_messages_are_replayed_exactly_and_deleted(
    mosquitto: Mosquitto, harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest.replay import main

    payload = b'{"ts": 1, "value": \x00}'
    harness.execute(
        "INSERT INTO rejected_messages (received_at, topic, meter_id, reason, detail, payload) "
        "VALUES (now(), 'greenpulse/guian/el-office/reading', NULL, 'quarantined', 'x', "
        f"'\\x{payload.hex()}'::bytea), "
        "(now(), 'greenpulse/guian/el-office/reading', NULL, 'unknown_meter', 'y', 'z')"
    )
    monkeypatch.setenv("GREENPULSE_DATABASE_URL", harness.db.url)
    monkeypatch.setenv("GREENPULSE_MQTT_URL", mosquitto.url)
    received: list[tuple[str, bytes]] = []

    async def replay_and_receive() -> None:
        async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="gp-replay-sub") as sub:
            await sub.subscribe("greenpulse/#", qos=1)
            assert await asyncio.to_thread(main, ["--reason", "quarantined", "--publish"]) == 0
            async with asyncio.timeout(10):
                async for message in sub.messages:
                    assert isinstance(message.payload, bytes)
                    received.append((message.topic.value, message.payload))
                    break

    asyncio.run(replay_and_receive())
    assert received == [("greenpulse/guian/el-office/reading", payload)]
    assert harness.rows("SELECT reason FROM rejected_messages") == [("unknown_meter",)]
