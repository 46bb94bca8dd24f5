"""Against the real Mosquitto: everything published arrives."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import aiomqtt
import pytest
import typer
from typer.testing import CliRunner

from app.config import Settings
from app.domain.plant import Plant
from simulator.cli import simulate
from simulator.core import PlantSimulator
from simulator.options import SimOptions
from simulator.publish import flood, new_client, publish_readings, run

pytestmark = pytest.mark.mqtt

START = datetime(2026, 11, 18, 1, 0, tzinfo=UTC)


async def _collect(
    host: str, port: int, prefix: str, publish: object, *, expect_readings: int | None = None
) -> list[tuple[str, dict[str, object]]]:
    """Subscribe to ``prefix/#``, run ``publish`` (a coroutine function), gather what arrives."""
    received: list[tuple[str, dict[str, object]]] = []
    async with aiomqtt.Client(host, port, identifier=f"test-sub-{uuid.uuid4().hex[:8]}") as sub:
        # QoS 0 towards this subscriber: with Mosquitto's default max_queued_messages
        # (1000) a QoS 1 subscriber sharing a busy CPU with the publisher falls behind
        # and the broker drops what it cannot queue ("Outgoing messages are being
        # dropped"), which would test the broker's limits, not the simulator. The
        # simulator still publishes with QoS 1; over loopback TCP nothing is lost.
        await sub.subscribe(f"{prefix}/#", qos=0)

        arrived = asyncio.Event()

        async def listen() -> None:
            async for message in sub.messages:
                assert isinstance(message.payload, bytes)
                received.append((str(message.topic), json.loads(message.payload)))
                arrived.set()

        listener = asyncio.create_task(listen())
        try:
            expected = await publish()  # type: ignore[operator]
            target = expect_readings if expect_readings is not None else expected
            try:
                async with asyncio.timeout(30):
                    while _count_readings(received) < target:
                        arrived.clear()
                        await arrived.wait()
            except TimeoutError:
                pytest.fail(f"received {_count_readings(received)} of {target} readings")
            await asyncio.sleep(0.3)  # anything extra would show up now
        finally:
            listener.cancel()
    return received


def _count_readings(received: list[tuple[str, dict[str, object]]]) -> int:
    count = 0
    for _, body in received:
        batch = body.get("readings")
        count += len(batch) if isinstance(batch, list) else 1
    return count


@pytest.mark.parametrize("batch_size", [None, 25])
async def test_an_hour_of_readings_arrives_complete(
    mqtt_broker: tuple[str, int], topic_prefix: str, plant: Plant, batch_size: int | None
) -> None:
    host, port = mqtt_broker
    settings = Settings(mqtt_url=f"mqtt://{host}:{port}")
    sim = PlantSimulator(plant, seed=4, start=START, options=SimOptions.realistic())
    readings = sim.advance(START + timedelta(hours=1))

    async def publish() -> int:
        async with new_client(settings) as client:
            await publish_readings(client, readings, prefix=topic_prefix, batch_size=batch_size)
        return len(readings)

    received = await _collect(host, port, topic_prefix, publish)
    assert _count_readings(received) == len(readings)
    if batch_size is None:
        got = sorted((topic.split("/")[2], body["seq"]) for topic, body in received)
        assert got == sorted((r.meter_id, r.seq) for r in readings)
        topic, body = received[0]
        assert topic.endswith("/reading")
        assert set(body) == {"ts", "value", "unit", "seq"}
    else:
        assert all(topic.endswith("/batch") for topic, _ in received)


async def test_run_backfills_then_goes_live(
    mqtt_broker: tuple[str, int], topic_prefix: str, plant: Plant
) -> None:
    host, port = mqtt_broker
    settings = Settings(mqtt_url=f"mqtt://{host}:{port}")
    stats_box = []

    async def publish() -> int:
        stats = await run(
            settings,
            plant,
            speed=1800,
            backfill_days=1 / 24,
            seed=2,
            duration_s=1.0,
            prefix=topic_prefix,
            now=START,
        )
        stats_box.append(stats)
        return stats.readings

    received = await _collect(host, port, topic_prefix, publish)
    stats = stats_box[0]
    assert stats.simulated_from == START - timedelta(hours=1)
    # an hour of backfill plus about half an hour live (1 s at 1800x)
    assert stats.simulated_to - START >= timedelta(minutes=20)
    assert _count_readings(received) == stats.readings == stats.messages


@pytest.mark.parametrize(("batch_size", "messages"), [(None, 400), (50, 8)])
async def test_flood_sends_the_count_asked_for(
    mqtt_broker: tuple[str, int], topic_prefix: str, batch_size: int | None, messages: int
) -> None:
    host, port = mqtt_broker
    settings = Settings(mqtt_url=f"mqtt://{host}:{port}")

    async def publish() -> int:
        stats = await flood(
            settings,
            meters=20,
            count=400,
            rate_per_s=4000,
            batch_size=batch_size,
            prefix=topic_prefix,
            quiet=True,
        )
        assert stats.messages == messages
        assert stats.readings_per_s <= 4000 * 1.2
        return stats.readings

    received = await _collect(host, port, topic_prefix, publish)
    assert _count_readings(received) == 400
    assert len(received) == messages


def test_cli_flood(mqtt_broker: tuple[str, int], topic_prefix: str) -> None:
    host, port = mqtt_broker
    app = typer.Typer()
    app.command("simulate")(simulate)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--mqtt-url",
            f"mqtt://{host}:{port}",
            "--topic-prefix",
            topic_prefix,
            "--flood-meters",
            "5",
            "--flood-count",
            "50",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "flood: 50 readings" in result.output


def test_cli_reports_an_unreachable_broker(topic_prefix: str) -> None:
    app = typer.Typer()
    app.command("simulate")(simulate)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(
        app,
        ["simulate", "--mqtt-url", "mqtt://127.0.0.1:9", "--topic-prefix", topic_prefix,
         "--duration", "0", "--clean"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "cannot publish to 127.0.0.1:9" in result.output
