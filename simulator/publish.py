"""Publishing simulated readings over MQTT: payloads, the paced run loop and flood mode.

Payload contract (what the ingester decodes), QoS 1:

- ``{prefix}/{site}/{meter}/reading``:
  ``{"ts": "2026-11-22T10:15:00+08:00", "value": 12345.6, "unit": "kWh", "seq": 42}``
- ``{prefix}/{site}/gateway/{gateway}/batch``:
  ``{"gateway": "gw-1", "readings": [{"meter": "el-comp-01", "ts": ..., "value": ...,
  "unit": "kWh", "seq": 7}, ...]}``
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

import aiomqtt

from app.config import Settings
from app.domain.plant import Plant
from app.mqtt import batch_topic, client_kwargs, reading_topic
from simulator.core import PlantSimulator
from simulator.events import Injection
from simulator.meters import SimReading
from simulator.options import SimOptions

logger = logging.getLogger(__name__)

QOS: Final = 1
PUBLISH_WINDOW: Final = 32
"""QoS 1 publishes awaiting their PUBACK at once (bounded: backpressure, not a queue).

Measured against a local Mosquitto: throughput peaks at 32-64; aiomqtt and paho
scan their pending lists on every publish and acknowledgement, so wider is slower."""

BACKFILL_CHUNK: Final = timedelta(hours=1)
LIVE_STEP_S: Final = 1.0
MAX_LIVE_CHUNK: Final = timedelta(hours=1)
RETRY_DELAY_S: Final = 2.0


def format_ts(when: datetime) -> str:
    """ISO 8601 with the offset; milliseconds only when there are any."""
    return when.isoformat(timespec="milliseconds" if when.microsecond else "seconds")


def _number(value: float) -> float | int:
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def reading_payload(reading: SimReading) -> dict[str, Any]:
    """The single-reading payload."""
    return {
        "ts": format_ts(reading.time),
        "value": _number(reading.value),
        "unit": reading.unit,
        "seq": reading.seq,
    }


def batch_payload(gateway: str, readings: Sequence[SimReading]) -> dict[str, Any]:
    """The gateway batch payload."""
    return {
        "gateway": gateway,
        "readings": [{"meter": r.meter_id, **reading_payload(r)} for r in readings],
    }


def messages(
    readings: Iterable[SimReading], *, prefix: str, batch_size: int | None = None
) -> Iterator[tuple[str, bytes]]:
    """Topic and payload of each message, in sending order.

    With ``batch_size``, consecutive readings of one gateway are gathered into
    batches of up to that many; a gateway's readings keep their order.
    """
    if batch_size is None:
        for r in readings:
            yield reading_topic(prefix, r.site_id, r.meter_id), _encode(reading_payload(r))
        return
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    buffers: dict[tuple[str, str], list[SimReading]] = {}
    for r in readings:
        key = (r.site_id, r.gateway)
        buffer = buffers.setdefault(key, [])
        buffer.append(r)
        if len(buffer) >= batch_size:
            yield batch_topic(prefix, *key), _encode(batch_payload(r.gateway, buffer))
            del buffers[key]
    for (site_id, gateway), buffer in buffers.items():
        yield batch_topic(prefix, site_id, gateway), _encode(batch_payload(gateway, buffer))


def _encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


async def publish_messages(
    client: aiomqtt.Client, items: Iterable[tuple[str, bytes]], *, window: int = PUBLISH_WINDOW
) -> int:
    """Publish with QoS 1, keeping at most ``window`` unacknowledged; returns the count.

    Messages leave in iteration order (each publish hands its packet to the
    client before the next starts); the call returns once all are acknowledged.
    """
    pending: set[asyncio.Task[None]] = set()
    count = 0
    try:
        for topic, payload in items:
            if len(pending) >= window:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
            pending.add(asyncio.create_task(client.publish(topic, payload, qos=QOS)))
            count += 1
        if pending:
            done, pending = await asyncio.wait(pending)
            for task in done:
                task.result()
    finally:
        for task in pending:
            task.cancel()
    return count


async def publish_readings(
    client: aiomqtt.Client,
    readings: Iterable[SimReading],
    *,
    prefix: str,
    batch_size: int | None = None,
) -> int:
    """Publish readings (single or gateway batches) with QoS 1; returns the message count."""
    return await publish_messages(client, messages(readings, prefix=prefix, batch_size=batch_size))


def new_client(settings: Settings, role: str = "sim") -> aiomqtt.Client:
    """A publishing client with a unique id and a wide in-flight window."""
    client = aiomqtt.Client(
        **client_kwargs(settings),
        identifier=f"greenpulse-{role}-{uuid.uuid4().hex[:8]}",
        max_inflight_messages=PUBLISH_WINDOW,
    )
    # a full window of unacknowledged publishes is the plan, not a warning sign
    client.pending_calls_threshold = PUBLISH_WINDOW + 1
    return client


class BackfillProgress(Protocol):
    """Told how far a backfill has got; ``simulator.progress`` has a terminal one."""

    def advance(self, fraction: float, readings: int, simulated_to: datetime) -> None: ...

    def done(self, readings: int, messages: int) -> None: ...


@dataclass(frozen=True)
class RunStats:
    readings: int
    messages: int
    simulated_from: datetime
    simulated_to: datetime
    elapsed_s: float


async def run(
    settings: Settings,
    plant: Plant,
    *,
    speed: float = 1.0,
    backfill_days: float = 0.0,
    seed: int = 0,
    options: SimOptions | None = None,
    stop: asyncio.Event | None = None,
    duration_s: float | None = None,
    injections: Sequence[Injection] = (),
    batch_size: int | None = None,
    prefix: str | None = None,
    now: datetime | None = None,
    clock: Callable[[], datetime] | None = None,
    progress: BackfillProgress | None = None,
    registers: Mapping[str, float] | None = None,
) -> RunStats:
    """Backfill history as fast as the broker accepts, then publish live.

    Args:
        speed: simulated seconds per wall-clock second; 1 keeps simulated time on
            the wall clock, 1440 runs a day a minute (timestamps run ahead).
        backfill_days: history published first, an hour at a time.
        duration_s: wall-clock length of the live phase (``None``: until ``stop``;
            0: backfill only).
        injections: events; offsets count from the end of the backfill ("now").
        now: the instant the backfill ends and live starts (default: the wall clock).
        clock: the clock the live phase keeps up with. Without one, live time runs
            ``speed`` times faster from the moment the backfill ends; the demo passes its
            simulated clock so that simulator, ingester and API read one time, however
            long the backfill took (it keeps running while history is published).
        progress: told how far the backfill has got (a progress bar, say).
        registers: cumulative registers to continue from, per meter id, canonical (see
            ``PlantSimulator``): a resumed plant's meters read on where they stopped.
    """
    if not speed > 0:
        raise ValueError(f"speed must be positive, got {speed}")
    origin = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    sim = PlantSimulator(
        plant,
        seed=seed,
        start=origin - timedelta(days=backfill_days),
        options=options,
        registers=registers,
    )
    for injection in injections:
        sim.apply(injection, origin)
    runner = _Runner(
        sim,
        origin,
        prefix=prefix or settings.mqtt_topic_prefix,
        batch_size=batch_size,
        speed=speed,
        duration_s=duration_s,
        stop=stop or asyncio.Event(),
        clock=clock,
        progress=progress,
    )
    connected = False
    while True:
        try:
            async with new_client(settings) as client:
                connected = True
                await runner.run(client)
            break
        except aiomqtt.MqttError as exc:
            if not connected:
                raise  # never reached the broker: say so rather than retry forever
            logger.warning("broker connection lost (%s); reconnecting in %s s", exc, RETRY_DELAY_S)
            if await _wait(runner.stop, RETRY_DELAY_S):
                break
    stats = RunStats(
        runner.readings, runner.messages, sim.start, sim.now, time.monotonic() - runner.began
    )
    logger.info(
        "published %d readings in %d messages, simulated %s to %s",
        stats.readings,
        stats.messages,
        stats.simulated_from.isoformat(),
        stats.simulated_to.isoformat(),
    )
    return stats


async def _wait(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` for ``event``; True when it is set."""
    try:
        await asyncio.wait_for(event.wait(), timeout=timeout_s)
    except TimeoutError:
        return False
    return True


class _Runner:
    """The backfill and live phases, resumable after a reconnect (state lives in ``sim``)."""

    def __init__(
        self,
        sim: PlantSimulator,
        origin: datetime,
        *,
        prefix: str,
        batch_size: int | None,
        speed: float,
        duration_s: float | None,
        stop: asyncio.Event,
        clock: Callable[[], datetime] | None = None,
        progress: BackfillProgress | None = None,
    ) -> None:
        self.sim = sim
        self.origin = origin
        self.prefix = prefix
        self.batch_size = batch_size
        self.speed = speed
        self.duration_s = duration_s
        self.stop = stop
        self.clock = clock
        self.progress = progress
        self.began = time.monotonic()
        self.readings = 0
        self.messages = 0
        self._backlog: list[SimReading] = []  # one chunk at most: the sim waits while we retry
        self._live: tuple[float, datetime] | None = None

    async def _send(self, client: aiomqtt.Client, until: datetime | None) -> None:
        readings = self._backlog + (self.sim.advance(until) if until is not None else [])
        self._backlog = readings
        self.messages += await publish_readings(
            client, readings, prefix=self.prefix, batch_size=self.batch_size
        )
        self.readings += len(readings)
        self._backlog = []

    async def run(self, client: aiomqtt.Client) -> None:
        sim = self.sim
        if self._backlog:
            await self._send(client, None)
        if sim.now < self.origin:
            logger.info("backfilling from %s to %s", sim.now.isoformat(), self.origin.isoformat())
        start = sim.start
        while sim.now < self.origin and not self.stop.is_set():
            await self._send(client, min(self.origin, sim.now + BACKFILL_CHUNK))
            if self.progress is not None:
                self.progress.advance(
                    (sim.now - start) / (self.origin - start), self.readings, sim.now
                )
        if self.progress is not None:
            self.progress.done(self.readings, self.messages)
        if self._live is None:
            logger.info("live from %s at speed %g", sim.now.isoformat(), self.speed)
            self._live = (time.monotonic(), sim.now)
        live_wall, live_sim = self._live
        limit = math.inf if self.duration_s is None else self.duration_s
        while True:
            elapsed = min(time.monotonic() - live_wall, limit)
            if self.clock is not None:
                # keep up with the shared clock: the time it ran during the backfill
                # is published now (an hour a step at most), so readings are never
                # as old as the backfill was long
                target = max(sim.now, self.clock())
            elif self.speed == 1.0:
                target = max(sim.now, datetime.now(UTC))
            else:
                target = max(sim.now, live_sim + timedelta(seconds=elapsed * self.speed))
            await self._send(client, min(target, sim.now + MAX_LIVE_CHUNK))
            if self.stop.is_set() or elapsed >= limit:
                return
            remaining = limit - (time.monotonic() - live_wall)
            await _wait(self.stop, max(0.0, min(LIVE_STEP_S, remaining)))


@dataclass(frozen=True)
class FloodStats:
    """What a flood run achieved (rates over the whole run, acknowledgements included)."""

    readings: int
    messages: int
    elapsed_s: float
    target_rate_per_s: float | None

    @property
    def readings_per_s(self) -> float:
        return self.readings / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def messages_per_s(self) -> float:
        return self.messages / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def summary(self) -> str:
        target = f"{self.target_rate_per_s:g}/s" if self.target_rate_per_s else "unpaced"
        return (
            f"flood: {self.readings} readings in {self.messages} messages in "
            f"{self.elapsed_s:.2f} s = {self.readings_per_s:,.0f} readings/s, "
            f"{self.messages_per_s:,.0f} messages/s (target {target})"
        )


FLOOD_GATEWAY_SIZE: Final = 100


def flood_readings(
    meters: int, count: int, *, site_id: str, start: datetime, interval_s: float = 60.0
) -> Iterator[SimReading]:
    """``count`` synthetic cumulative kWh readings, round-robin over ``meters`` meters."""
    zone = UTC
    for n in range(count):
        round_, index = divmod(n, meters)
        at = start + timedelta(seconds=round_ * interval_s)
        value = round(1000.0 + index + round_ * (0.5 + (index % 7) * 0.25), 2)
        yield SimReading(
            site_id=site_id,
            meter_id=f"flood-{index:05d}",
            gateway=f"gw-flood-{index // FLOOD_GATEWAY_SIZE:03d}",
            time=at.astimezone(zone),
            value=value,
            unit="kWh",
            seq=round_ + 1,
            true_quantity=0.0 if round_ == 0 else 0.5 + (index % 7) * 0.25,
            since=at - timedelta(seconds=interval_s),
            true_total=value - 1000.0 - index,
            true_rate=(0.5 + (index % 7) * 0.25) * 3600 / interval_s,
            sent_at=at,
        )


async def flood(
    settings: Settings,
    *,
    meters: int = 1000,
    rate_per_s: float | None = None,
    count: int = 100_000,
    batch_size: int | None = None,
    site_id: str = "flood",
    prefix: str | None = None,
    max_duration_s: float = 300.0,
    quiet: bool = False,
) -> FloodStats:
    """Publish ``count`` synthetic readings from ``meters`` meters for benchmarks.

    Args:
        rate_per_s: readings per second in total (``None``: as fast as the broker acks).
        batch_size: readings per gateway batch message (``None``: one reading per message).
        max_duration_s: stop early after this long whatever the count.
        quiet: do not print the summary line.
    """
    if meters < 1 or count < 0:
        raise ValueError("meters must be >= 1 and count >= 0")
    if rate_per_s is not None and not rate_per_s > 0:
        raise ValueError("rate_per_s must be positive")
    prefix = prefix or settings.mqtt_topic_prefix
    start = datetime.now(UTC).replace(microsecond=0)
    readings = flood_readings(meters, count, site_id=site_id, start=start)
    chunk = max(1, min(5000, int(rate_per_s / 10) if rate_per_s else 5000))
    sent_readings = sent_messages = 0
    async with new_client(settings, role="flood") as client:
        began = time.monotonic()
        deadline = began + max_duration_s
        while sent_readings < count and time.monotonic() < deadline:
            batch = [r for _, r in zip(range(chunk), readings, strict=False)]
            if not batch:
                break
            sent_messages += await publish_readings(
                client, batch, prefix=prefix, batch_size=batch_size
            )
            sent_readings += len(batch)
            if rate_per_s:
                ahead = sent_readings / rate_per_s - (time.monotonic() - began)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        elapsed = time.monotonic() - began
    stats = FloodStats(sent_readings, sent_messages, elapsed, rate_per_s)
    if quiet:
        logger.info("%s", stats.summary())
    else:
        print(stats.summary())
    return stats
