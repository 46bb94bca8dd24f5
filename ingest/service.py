"""The MQTT ingest loop: receive, decode, batch, commit, and only then acknowledge.

Delivery chain (docs/mqtt.md, "Delivery guarantees"):

* MQTT v5, ``clean_start=False`` with a Session Expiry Interval: the broker
  keeps the subscriptions and queues messages while the ingester is away, and
  redelivers every message that was sent but not acknowledged.
* QoS 1 subscriptions with **manual acknowledgement**: a PUBACK goes out only
  after ``BatchWriter.write`` has committed the batch holding the message, in
  the order the messages were received. A crash before that means the broker
  sends the message again; the writer is idempotent on (meter, time), so a
  redelivered reading is counted as a duplicate, never stored twice.
* Receive Maximum (an MQTT v5 CONNECT property) bounds the messages the broker
  sends before they are acknowledged, so memory is bounded by the ingester's
  own setting whatever the broker config says; ``max_pending_readings`` adds an
  explicit bound on decoded readings (gateway batches carry many per message).
* While one batch is being written, the next is collected (pipelining).
* A database outage: the same batch is retried with backoff, nothing is
  acknowledged and nothing dropped; once the pending bound is reached the
  receiver stops taking messages and the broker queues them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError

from app.config import Settings
from app.domain.plant import Plant
from app.mqtt import BATCH_SUFFIX, READING_SUFFIX, client_kwargs, live_topic
from ingest.decode import DecodedReading, Limits, PlantIndex, Reason, Rejection, decode
from ingest.metrics import IngestMetrics, RejectionLog, Summary
from ingest.writer import WriteResult

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_RECEIVE_MAXIMUM = 65_535  # MQTT v5: a two-byte integer
_READY_RUN = 256  # messages accepted per turn of the event loop


@dataclass(frozen=True)
class IngestOptions:
    """Ingest tuning; ``from_env`` reads ``GREENPULSE_INGEST_<FIELD>`` (docs/performance.md)."""

    batch_readings: int = 20_000
    """Write a batch once this many readings (and rejections) are waiting..."""
    batch_ms: float = 50.0
    """...or once the oldest waiting message is this old."""
    max_pending_readings: int = 60_000
    """Stop taking messages from the broker above this many uncommitted readings (room for
    two batches committing and one filling)."""
    receive_maximum: int = 20_000
    """Unacknowledged messages the broker may send (MQTT v5 Receive Maximum)."""
    session_expiry_s: int = 7 * 24 * 3600
    """How long the broker keeps the session (and queues messages) while the ingester is away."""
    keepalive_s: int = 30
    mqtt_v5: bool = True
    """False: MQTT 3.1.1 with clean_session=False, for brokers without v5 (the demo's
    embedded amqtt). The in-flight window is then the broker's (Mosquitto:
    max_inflight_messages)."""
    metrics_port: int | None = None
    metrics_addr: str = "0.0.0.0"
    summary_interval_s: float = 30.0
    retry_initial_s: float = 0.2
    retry_max_s: float = 5.0
    outage_reminder_s: float = 60.0
    non_transient_attempts: int = 3
    """Attempts before a batch failing with a non-connection error is written message by message."""
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 30.0
    drain_timeout_s: float = 10.0
    """On stop, how long to keep writing what was received (the rest is redelivered)."""
    limits: Limits = field(default_factory=Limits)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> IngestOptions:
        """Options from ``GREENPULSE_INGEST_*`` variables (limits keep their defaults)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"GREENPULSE_INGEST_{f.name.upper()}")
            if raw is None or f.name == "limits":
                continue
            if f.name == "metrics_port":
                values[f.name] = int(raw) if raw.strip() else None
            elif isinstance(f.default, str):
                values[f.name] = raw
            elif isinstance(f.default, bool):
                values[f.name] = raw.strip().lower() in {"1", "true", "yes", "on"}
            else:
                default: Any = f.default
                values[f.name] = type(default)(float(raw))
        return cls(**values)

    def __post_init__(self) -> None:
        if not 1 <= self.receive_maximum <= MAX_RECEIVE_MAXIMUM:
            raise ValueError(f"receive_maximum must be 1..{MAX_RECEIVE_MAXIMUM}")
        if self.batch_readings < 1 or self.max_pending_readings < self.batch_readings:
            raise ValueError("need 1 <= batch_readings <= max_pending_readings")


class ReadingWriter(Protocol):
    """What the loop needs of ``ingest.writer.BatchWriter``.

    ``prepare`` does the work that needs no database (it may run while the previous
    batch commits); ``commit`` writes a prepared batch in one transaction, and may be
    called again with the same plan after a failure.
    """

    def prepare(self, readings: Sequence[DecodedReading], *, now: datetime) -> Any: ...

    def commit(
        self,
        plan: Any,
        rejections: Sequence[Rejection],
        *,
        after: Callable[[float | None], bool] | None = None,
    ) -> WriteResult: ...


class AckingClient(aiomqtt.Client):
    """An ``aiomqtt.Client`` that acknowledges QoS 1 messages only when told to.

    aiomqtt 2.5 builds its paho client in ``__init__`` (``self._client``) and
    connects in ``__aenter__``, but offers no manual acknowledgement; paho 2.x
    does (``manual_ack_set``/``ack``). Turning it on here, before connecting,
    means paho never sends a PUBACK by itself. ``ack`` must be called from the
    event-loop thread, which is where aiomqtt runs paho's callbacks.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client.manual_ack_set(True)
        self.session_present: bool | None = None

    def ack(self, mid: int, qos: int) -> bool:
        """Send the PUBACK for message ``mid``; False when paho could not queue it."""
        return self._client.ack(mid, qos) == mqtt.MQTT_ERR_SUCCESS

    def ready(self) -> aiomqtt.Message | None:
        """A message already received, without waiting (None when there is none).

        aiomqtt's iterator creates a task and an ``asyncio.wait`` per message;
        in a burst most messages are already queued, so take them directly.
        """
        queue = self._queue
        return None if queue.empty() else queue.get_nowait()

    def publish_nowait(self, topic: str, payload: bytes = b"") -> None:
        """Queue a QoS 0 PUBLISH with paho directly (no await, no delivery guarantee)."""
        self._client.publish(topic, payload, qos=0)

    @property
    def disconnected(self) -> asyncio.Future[None]:
        """Completes when the connection is lost (aiomqtt's own future)."""
        return self._disconnected

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None = None,
    ) -> None:
        self.session_present = bool(flags.session_present)
        super()._on_connect(client, userdata, flags, reason_code, properties)


@dataclass(slots=True)
class _Pending:
    """A received message, decoded, waiting for its batch to commit."""

    mid: int
    qos: int
    generation: int
    topic: str
    payload: bytes
    readings: list[DecodedReading]
    rejections: list[Rejection]
    weight: int


class Ingester:
    """Subscribes to the plant's topics and writes what arrives, losing nothing."""

    def __init__(
        self,
        settings: Settings,
        plant: Plant,
        writer: ReadingWriter,
        options: IngestOptions | None = None,
        *,
        metrics: IngestMetrics | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """Args:
        settings: broker, topic prefix, client id and share group.
        plant: the plant file's meters (what the decoder accepts).
        writer: commits batches (``ingest.writer.BatchWriter``).
        options: tuning (defaults: ``IngestOptions()``).
        metrics: the metrics to update (default: a fresh registry).
        clock: "now" for the decoder's future check and the writer (default: UTC
            wall clock; the demo passes its simulated clock).
        """
        self._clock = clock or _utc_now
        self._settings = settings
        self._writer = writer
        self._options = options or IngestOptions()
        self.metrics = metrics or IngestMetrics()
        self._index = PlantIndex.from_plant(plant)
        self._prefix = settings.mqtt_topic_prefix
        self._reject_log = RejectionLog()
        self._queue: deque[_Pending] = deque()
        self._queued_weight = 0
        self._writing_weight = 0
        self._generation = 0
        self._client: AckingClient | None = None
        self._arrived = asyncio.Event()  # a batch may be ready
        self._space = asyncio.Event()  # pending readings are below the bound
        self._space.set()
        self._idle = asyncio.Event()  # nothing queued, nothing being written
        self._idle.set()
        self._draining = False
        self._db_failing = False

    # -- public -----------------------------------------------------------------------------

    def topics(self) -> list[str]:
        """The subscriptions, ``$share/{group}/...`` when a share group is configured."""
        topics = [
            f"{self._prefix}/+/+/{READING_SUFFIX}",
            f"{self._prefix}/+/gateway/+/{BATCH_SUFFIX}",
        ]
        group = self._settings.mqtt_share_group
        return [f"$share/{group}/{t}" for t in topics] if group else topics

    async def run(self, stop: asyncio.Event) -> None:
        """Ingest until ``stop`` is set; then commit and acknowledge what was received."""
        if self._options.metrics_port is not None:
            self.metrics.serve(self._options.metrics_port, self._options.metrics_addr)
        writer = asyncio.create_task(self._write_loop(), name="ingest-writer")
        summary = asyncio.create_task(self._summary_loop(), name="ingest-summary")
        try:
            await self._connection_loop(stop, writer)
        finally:
            for task in (writer, summary):
                task.cancel()
            for task in (writer, summary):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self.metrics.connected.set(0)
            log.info("ingest: stopped after %s", self.metrics.totals_line())

    # -- connection -------------------------------------------------------------------------

    def _new_client(self) -> AckingClient:
        common: dict[str, Any] = {
            "identifier": self._settings.mqtt_client_id,
            "keepalive": self._options.keepalive_s,
            "timeout": 10.0,
            **client_kwargs(self._settings),
        }
        if not self._options.mqtt_v5:
            return AckingClient(
                protocol=aiomqtt.ProtocolVersion.V311, clean_session=False, **common
            )
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self._options.session_expiry_s
        properties.ReceiveMaximum = self._options.receive_maximum
        return AckingClient(
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,  # never: the session holds what was not acknowledged
            properties=properties,
            **common,
        )

    async def _connection_loop(self, stop: asyncio.Event, writer: asyncio.Task[None]) -> None:
        delay = self._options.reconnect_initial_s
        endpoint = self._settings.mqtt_endpoint()
        while not stop.is_set():
            client = self._new_client()
            try:
                async with client:
                    self._generation += 1
                    self._client = client
                    await self._subscribe(client)
                    self.metrics.reconnects.inc()
                    self.metrics.connected.set(1)
                    log.info(
                        "ingest: connected to %s:%s as %r (session %s), subscribed to %s",
                        endpoint.host,
                        endpoint.port,
                        self._settings.mqtt_client_id,
                        "resumed" if client.session_present else "new",
                        ", ".join(self.topics()),
                    )
                    delay = self._options.reconnect_initial_s
                    if await self._receive_until(client, stop, writer):
                        await self._drain()
                        return
            except aiomqtt.MqttError as exc:
                log.warning(
                    "ingest: MQTT connection to %s:%s lost or refused (%s); retrying in %.1f s",
                    endpoint.host,
                    endpoint.port,
                    exc,
                    delay,
                )
            finally:
                self._client = None
                self.metrics.connected.set(0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self._options.reconnect_max_s)

    async def _subscribe(self, client: AckingClient) -> None:
        for topic in self.topics():
            granted = await client.subscribe(topic, qos=1, timeout=10.0)
            codes = [code.value if isinstance(code, ReasonCode) else code for code in granted]
            if any(code != 1 for code in codes):
                # QoS 0 granted would silently drop the delivery guarantee
                raise aiomqtt.MqttError(f"subscription to {topic} not granted at QoS 1: {codes}")

    async def _receive_until(
        self, client: AckingClient, stop: asyncio.Event, writer: asyncio.Task[None]
    ) -> bool:
        """Receive until stop (True) or a lost connection (raises ``MqttError``).

        A writer loop that dies (a bug) ends this too, raising its exception: the
        process exits and its supervisor restarts it, rather than receiving
        messages it will never acknowledge.
        """
        receiver = asyncio.create_task(self._receive(client, self._generation))
        stopper = asyncio.create_task(stop.wait())
        try:
            waiters: set[asyncio.Future[Any]] = {receiver, stopper, writer}
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if writer.done():
                writer.result()
        finally:
            stopper.cancel()
            if not receiver.done():
                receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiver  # re-raises MqttError from a lost connection
        return True

    async def _receive(self, client: AckingClient, generation: int) -> None:
        messages = client.messages
        while True:
            if not self._space.is_set():
                await self._wait_for_space(client)
            message = await anext(messages)  # waits; raises MqttError on disconnect
            self._accept(message, generation)
            # then whatever else has arrived, a bounded run at a time so the
            # socket reader and the writer's acknowledgements get their turn.
            # One at a time: a message taken from the queue must be accepted,
            # or it is never acknowledged (and holds a Receive Maximum slot).
            for _ in range(_READY_RUN):
                if not self._space.is_set():
                    break
                ready = client.ready()
                if ready is None:
                    break
                self._accept(ready, generation)
            await asyncio.sleep(0)

    async def _wait_for_space(self, client: AckingClient) -> None:
        """Backpressure: take no more until the writer catches up (the broker queues)."""
        space = asyncio.create_task(self._space.wait())
        try:
            waiters: set[asyncio.Future[Any]] = {space, client.disconnected}
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            space.cancel()
        if client.disconnected.done():
            raise aiomqtt.MqttError("disconnected while waiting for the writer")

    def _accept(self, message: aiomqtt.Message, generation: int) -> None:
        topic = message.topic.value
        payload = message.payload
        if not isinstance(payload, bytes):  # paho always hands over bytes
            payload = str(payload).encode()
        readings, rejections = decode(
            topic,
            payload,
            self._index,
            self._clock(),
            limits=self._options.limits,
            prefix=self._prefix,
        )
        m = self.metrics
        m.messages.inc()
        if readings:
            m.readings.inc(len(readings))
        for rejection in rejections:
            m.rejected.labels(rejection.reason).inc()
            self._reject_log(rejection)
        weight = max(1, len(readings) + len(rejections))
        self._queue.append(
            _Pending(
                message.mid, message.qos, generation, topic, payload, readings, rejections, weight
            )
        )
        was_empty = self._queued_weight == 0
        self._queued_weight += weight
        self._idle.clear()
        if was_empty or self._queued_weight >= self._options.batch_readings:
            self._arrived.set()
        if self._queued_weight + self._writing_weight >= self._options.max_pending_readings:
            self._space.clear()

    # -- writing ----------------------------------------------------------------------------

    async def _drain(self) -> None:
        """Write and acknowledge what was received, within ``drain_timeout_s``."""
        self._draining = True
        self._arrived.set()
        try:
            await asyncio.wait_for(self._idle.wait(), self._options.drain_timeout_s)
        except TimeoutError:
            log.warning(
                "ingest: stopping with %d readings not committed; the broker will redeliver them",
                self._queued_weight + self._writing_weight,
            )

    async def _next_batch(self) -> list[_Pending]:
        """Wait for ``batch_readings`` or ``batch_ms`` after the oldest message, then take."""
        options = self._options
        while not self._queue:
            self._arrived.clear()
            await self._arrived.wait()
        deadline = time.monotonic() + options.batch_ms / 1000
        while self._queued_weight < options.batch_readings and not self._draining:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)
        return self._take()

    def _take(self) -> list[_Pending]:
        """Up to ``batch_readings`` of the queued messages, now written (not queued)."""
        batch: list[_Pending] = []
        taken = 0
        while self._queue and taken < self._options.batch_readings:
            pending = self._queue.popleft()
            batch.append(pending)
            taken += pending.weight
        self._queued_weight -= taken
        self._writing_weight += taken
        return batch

    async def _write_loop(self) -> None:
        """Commit batch after batch, with the next one already on its way.

        Under load a full batch is usually waiting when a commit starts. It is prepared
        meanwhile (registers, rollups, COPY data: Python work) and its commit starts at
        once: on PostgreSQL its readings are copied while the first commit finishes
        (``BatchWriter.commit``), so the database works on both. Acknowledgements stay
        in receipt order: a batch is acknowledged once it has committed, and only after
        every batch before it.
        """
        m = self.metrics
        inflight: deque[tuple[list[_Pending], asyncio.Task[WriteResult], threading.Event]] = deque()
        try:
            while True:
                m.pending.set(self._queued_weight + self._writing_weight)
                m.pending_messages.set(len(self._queue))
                if not inflight:
                    batch = await self._next_batch()
                    inflight.append((batch, *await self._start(batch, None)))
                if len(inflight) < 2 and self._queued_weight >= self._options.batch_readings:
                    batch = self._take()
                    inflight.append((batch, *await self._start(batch, inflight[-1][2])))
                batch, committing, _ = inflight.popleft()
                result = await committing
                weight = sum(p.weight for p in batch)
                self._record(result, weight)
                self._ack(batch)
                self._announce(result)
                self._writing_weight -= weight
                if self._queued_weight + self._writing_weight < self._options.max_pending_readings:
                    self._space.set()
                if not self._queue and not inflight:
                    self._idle.set()
        finally:
            for _, task, _ in inflight:  # only when this loop is cancelled itself
                task.cancel()

    async def _start(
        self, batch: list[_Pending], previous: threading.Event | None
    ) -> tuple[asyncio.Task[WriteResult], threading.Event]:
        """Prepare a batch and start committing it; the event is set when the commit ends.

        The commit takes its meter locks only once ``previous`` (the commit before it) has
        ended, so batches step their registers in order.
        """
        plan = await self._prepare(batch)
        started = time.monotonic()
        done = threading.Event()
        after = None if previous is None else previous.wait

        async def commit() -> WriteResult:
            try:
                result = await self._commit(batch, plan, after)
            finally:
                done.set()
            self.metrics.batch_latency.observe(time.monotonic() - started)
            return result

        return asyncio.create_task(commit(), name="ingest-commit"), done

    async def _prepare(self, batch: list[_Pending]) -> Any:
        """The writer's plan for a batch; ``None`` when preparing fails (``_commit`` retries
        it, and finds the message at fault)."""
        readings = [r for p in batch for r in p.readings]
        try:
            return await asyncio.to_thread(self._writer.prepare, readings, now=self._clock())
        except Exception:
            log.exception("ingest: preparing a batch of %d messages failed", len(batch))
            return None

    async def _commit(
        self,
        batch: list[_Pending],
        plan: Any = None,
        after: Callable[[float | None], bool] | None = None,
    ) -> WriteResult:
        """Commit one batch, retrying until it succeeds; isolate a batch that cannot commit."""
        readings = [r for p in batch for r in p.readings]
        rejections = [r for p in batch for r in p.rejections]
        failures = 0
        while True:
            try:
                return await self._write(readings, rejections, plan, after)
            except Exception as exc:
                failures += 1
                if _is_transient(exc) or failures < self._options.non_transient_attempts:
                    await self._retry_pause(exc, failures)
                    continue
                if len(batch) == 1 and not batch[0].readings and batch[0].rejections:
                    # even the dead letters do not go in: keep trying, nothing else to do
                    await self._retry_pause(exc, failures)
                    continue
                log.error(
                    "ingest: a batch of %d messages fails with %r; writing them one by one",
                    len(batch),
                    exc,
                )
                return await self._commit_one_by_one(batch, after)

    async def _commit_one_by_one(
        self, batch: list[_Pending], after: Callable[[float | None], bool] | None = None
    ) -> WriteResult:
        """A message whose readings cannot be written becomes a ``write_failed`` dead letter.

        Like the batch they come from, the messages wait for the commit before it (``after``),
        so a meter's readings are still committed in receipt order.
        """
        total = WriteResult()
        for pending in batch:
            try:
                result = await self._write(pending.readings, pending.rejections, after=after)
            except Exception as exc:
                if _is_transient(exc):
                    result = await self._commit([pending], after=after)  # the database went away
                else:
                    log.exception("ingest: dead-lettering a message from %s", pending.topic)
                    rejection = Rejection(
                        topic=pending.topic[:512],
                        reason=Reason.WRITE_FAILED.value,
                        detail=f"the writer refused this message: {exc!r}"[:2000],
                        payload=pending.payload,
                        meter_id=pending.readings[0].meter_id if pending.readings else None,
                        received_at=self._clock(),
                    )
                    self.metrics.rejected.labels(rejection.reason).inc()
                    result = await self._commit(
                        [
                            _Pending(
                                pending.mid,
                                pending.qos,
                                pending.generation,
                                pending.topic,
                                pending.payload,
                                [],
                                [rejection],
                                1,
                            )
                        ]
                    )
            _merge(total, result)
        return total

    async def _write(
        self,
        readings: list[DecodedReading],
        rejections: list[Rejection],
        plan: Any = None,
        after: Callable[[float | None], bool] | None = None,
    ) -> WriteResult:
        """Prepare (unless ``plan`` is given) and commit, in a worker thread."""
        writer = self._writer
        now = self._clock()

        def write() -> WriteResult:
            prepared = writer.prepare(readings, now=now) if plan is None else plan
            return writer.commit(prepared, rejections, after=after)

        result = await asyncio.to_thread(write)
        if self._db_failing:
            self._db_failing = False
            self.metrics.db_down.set(0)
            log.warning("ingest: database writes succeed again")
        return result

    async def _retry_pause(self, exc: BaseException, failures: int) -> None:
        m = self.metrics
        m.db_retries.inc()
        delay = min(self._options.retry_initial_s * 2 ** (failures - 1), self._options.retry_max_s)
        first = failures == 1
        reminder = int(self._options.outage_reminder_s / self._options.retry_max_s) or 1
        if first and not self._db_failing:
            self._db_failing = True
            m.db_down.set(1)
            log.error(
                "ingest: database write failed (%s); retrying the same batch until it commits, "
                "nothing is acknowledged meanwhile",
                _short(exc),
            )
        elif failures % reminder == 0:
            log.error(
                "ingest: database still failing after %d attempts (%s); %d readings waiting",
                failures,
                _short(exc),
                self._queued_weight + self._writing_weight,
            )
        await asyncio.sleep(delay)

    def _record(self, result: WriteResult, weight: int) -> None:
        m = self.metrics
        m.written.inc(result.written)
        m.duplicates.inc(result.duplicates)
        m.late.inc(result.late)
        m.events.inc(result.events)
        m.replans.inc(int(result.replanned))
        m.recopied.inc(getattr(result, "recopied", 0))
        m.batch_size.observe(weight)
        newest = getattr(result, "newest_time", None)
        if newest is not None:
            m.lag.set(max(0.0, (self._clock() - newest).total_seconds()))

    def _announce(self, result: WriteResult) -> None:
        """Tell API processes which sites have new figures (QoS 0: a hint, never data).

        Without it the wall screens still refresh every second; with it they refresh as
        soon as a batch commits.
        """
        client = self._client
        if client is None or not result.sites:
            return
        for site_id in sorted(result.sites):
            # paho queues the PUBLISH without awaiting; a lost hint costs at most one tick
            client.publish_nowait(live_topic(self._prefix, site_id))

    def _ack(self, batch: Iterable[_Pending]) -> None:
        """PUBACK in receipt order, on the connection the messages came in on."""
        client, generation = self._client, self._generation
        acked = stale = 0
        for pending in batch:
            if pending.qos == 0:
                continue
            if (
                client is not None
                and pending.generation == generation
                and client.ack(pending.mid, pending.qos)
            ):
                acked += 1
            else:
                # received on a connection since lost: the broker resends it on the
                # new one (persistent session) and the writer counts a duplicate
                stale += 1
        self.metrics.acked.inc(acked)
        if stale:
            self.metrics.unacked_stale.inc(stale)

    async def _summary_loop(self) -> None:
        summary = Summary(self.metrics)
        while True:
            await asyncio.sleep(self._options.summary_interval_s)
            self.metrics.pending.set(self._queued_weight + self._writing_weight)
            log.info("%s", summary.line())


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _merge(total: WriteResult, result: WriteResult) -> None:
    total.written += result.written
    total.duplicates += result.duplicates
    total.late += result.late
    total.events += result.events
    total.rejected += result.rejected
    total.sites |= result.sites
    newest = getattr(result, "newest_time", None)
    if newest is not None and (total.newest_time is None or newest > total.newest_time):
        total.newest_time = newest


def _is_transient(exc: BaseException) -> bool:
    """A lost or refused database connection (retry forever), not a refused batch."""
    if isinstance(exc, OperationalError | DisconnectionError | OSError | TimeoutError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


# --- process entry point -----------------------------------------------------------------------


def run_ingester(settings: Settings, options: IngestOptions | None = None) -> None:
    """Run the ingester until SIGTERM or SIGINT (``greenpulse ingest``, ``python -m ingest``).

    The schema must exist (``greenpulse migrate``); a database that is down at
    start is waited for.
    """
    asyncio.run(_main(settings, options or IngestOptions.from_env()))


async def _main(settings: Settings, options: IngestOptions) -> None:
    from app.db.engine import make_engine, make_sessionmaker
    from app.db.timescale import StorageInfo, detect_storage
    from app.plant_file import load_plant
    from ingest.writer import BatchWriter

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    plant = load_plant(settings.plant_file)
    engine = make_engine(settings.database_url)

    def detect() -> StorageInfo:
        with engine.connect() as conn:
            return detect_storage(conn)

    storage = await _until_ok(detect, stop, "database")
    if storage is None:
        return
    log.info("ingest: storage mode %s (%s)", storage.mode.value, storage.reason)
    writer = BatchWriter(make_sessionmaker(engine), plant, storage)
    try:
        await Ingester(settings, plant, writer, options).run(stop)
    finally:
        engine.dispose()


async def _until_ok(call: Callable[[], T], stop: asyncio.Event, what: str) -> T | None:
    delay = 0.5
    while not stop.is_set():
        try:
            return await asyncio.to_thread(call)
        except Exception as exc:
            log.warning(
                "ingest: %s not reachable (%s); retrying in %.0f s", what, _short(exc), delay
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 30.0)
    return None
