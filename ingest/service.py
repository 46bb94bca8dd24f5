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
import random
import traceback
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiomqtt
from paho.mqtt.reasoncodes import ReasonCode

from app.config import Settings
from app.domain.plant import Plant
from app.mqtt import live_topic
from ingest.decode import DecodedReading, PlantIndex, Reason, Rejection, dead_letter, decode
from ingest.journal import Journal, fingerprint
from ingest.metrics import IngestMetrics, RejectionLog, Summary
from ingest.mqtt_client import AckingClient, new_client
from ingest.options import IngestOptions
from ingest.pipeline import Pending, ReadingWriter
from ingest.sparkplug import Command, OfflineEvent, state_topic
from ingest.sparkplug_link import NAMESPACE, SparkplugLink, is_sparkplug, unmapped_file_for
from ingest.sparkplug_store import Snapshot
from ingest.write_loop import WriteLoop
from ingest.writer import WriteResult

__all__ = ["AckingClient", "IngestOptions", "Ingester", "ReadingWriter"]

log = logging.getLogger(__name__)

T = TypeVar("T")

SPARKPLUG_B = NAMESPACE
_READY_RUN = 256  # messages accepted per turn of the event loop


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
        self._generation = 0
        self._client: AckingClient | None = None
        self._journal = Journal(self._options.journal_file)
        self._own_state = state_topic(settings.sparkplug_host_id)
        self.sparkplug = SparkplugLink(
            settings.sparkplug_host_id,
            plant,
            self._index,
            self._options.limits,
            self.metrics,
            unmapped_file_for(self._options.journal_file),
        )
        self._loop = WriteLoop(
            writer,
            self._options,
            self.metrics,
            self._journal,
            self._clock,
            self._ack,
            self._announce,
        )

    # -- public -----------------------------------------------------------------------------

    def topics(self) -> list[str]:
        """The subscriptions, ``$share/{group}/...`` when a share group is configured.

        The whole prefix and the Sparkplug B namespace: whatever arrives there reaches
        the decoder, so a message on an unknown topic or in an unsupported format is a
        counted dead letter, never silently missed.
        """
        topics = [f"{self._prefix}/#", f"{SPARKPLUG_B}/#"]
        group = self._settings.mqtt_share_group
        return [f"$share/{group}/{t}" for t in topics] if group else topics

    async def run(self, stop: asyncio.Event) -> None:
        """Ingest until ``stop`` is set; then commit and acknowledge what was received."""
        if self._options.metrics_port is not None:
            self.metrics.serve(self._options.metrics_port, self._options.metrics_addr)
        await self._resume_sparkplug()
        writer = asyncio.create_task(self._loop.run(), name="ingest-writer")
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

    async def _resume_sparkplug(self) -> None:
        """Take back the Sparkplug births the last commit kept (``sparkplug_births``), so the
        DDATA the broker queued while this process was away resolve their aliases."""
        load = getattr(self._writer, "sparkplug_births", None)
        if load is None:
            return
        try:
            births = await asyncio.to_thread(load, self.sparkplug.host_id)
        except Exception as exc:  # the nodes rebirth on request instead
            log.warning("ingest: Sparkplug births not resumed (%s); rebirths will follow", exc)
            return
        self.sparkplug.restore(births, self._clock())

    # -- connection -------------------------------------------------------------------------

    async def _connection_loop(self, stop: asyncio.Event, writer: asyncio.Task[None]) -> None:
        delay = self._options.reconnect_initial_s
        endpoint = self._settings.mqtt_endpoint()
        while not stop.is_set():
            connected_at = _utc_now()  # the STATE timestamp: the wall clock, also in the demo
            client = new_client(
                self._settings, self._options, will=self.sparkplug.will(connected_at)
            )
            try:
                async with client:
                    self._generation += 1
                    self._client = client
                    await self._subscribe(client)
                    await self._publish(client, self.sparkplug.online(connected_at))
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
                        await self._loop.drain()
                        self._journal.finished(())
                        # a clean DISCONNECT sends no will: say offline ourselves
                        with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                            await self._publish(client, self.sparkplug.offline(connected_at))
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

    async def _publish(self, client: AckingClient, command: Command) -> None:
        await client.publish(
            command.topic, command.payload, qos=command.qos, retain=command.retain, timeout=10.0
        )

    async def _subscribe(self, client: AckingClient) -> None:
        """Subscribe at QoS 1; on a resumed session, without waiting for the SUBACKs.

        A resumed session holds the subscriptions already, and the broker sends its queue
        (up to Receive Maximum messages) before it answers a new SUBSCRIBE: waiting for
        the answer before taking those messages can outlast any timeout. So the
        subscriptions are renewed in the background (a new topic set after an upgrade
        then applies once the broker gets to it), and a refusal ends the connection.
        """
        if not client.session_present:
            for topic in self.topics():
                await self._subscribe_one(client, topic, 10.0)
            return
        for topic in self.topics():
            task = asyncio.create_task(self._subscribe_one(client, topic, 300.0))
            task.add_done_callback(self._renewed)

    async def _subscribe_one(self, client: AckingClient, topic: str, timeout_s: float) -> None:
        granted = await client.subscribe(topic, qos=1, timeout=timeout_s)
        codes = [code.value if isinstance(code, ReasonCode) else code for code in granted]
        if any(code != 1 for code in codes):
            # QoS 0 granted would silently drop the delivery guarantee
            raise aiomqtt.MqttError(f"subscription to {topic} not granted at QoS 1: {codes}")

    def _renewed(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        log.error("ingest: renewing a subscription failed (%s); reconnecting", exc)
        client = self._client
        if client is not None and not client.disconnected.done():
            client.disconnected.set_exception(aiomqtt.MqttError(str(exc)))

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
            if not self._loop.space.is_set():
                await self._wait_for_space(client)
            message = await anext(messages)  # waits; raises MqttError on disconnect
            self._accept(message, generation)
            # then whatever else has arrived, a bounded run at a time so the
            # socket reader and the writer's acknowledgements get their turn.
            # One at a time: a message taken from the queue must be accepted,
            # or it is never acknowledged (and holds a Receive Maximum slot).
            for _ in range(_READY_RUN):
                if not self._loop.space.is_set():
                    break
                ready = client.ready()
                if ready is None:
                    break
                self._accept(ready, generation)
            await asyncio.sleep(0)

    async def _wait_for_space(self, client: AckingClient) -> None:
        """Backpressure: take no more until the writer catches up (the broker queues)."""
        space = asyncio.create_task(self._loop.space.wait())
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
        m = self.metrics
        if topic == self._own_state:
            # our own STATE, back from the spBv1.0/# subscription: acknowledged in turn,
            # not counted (it is no message from the plant)
            self._loop.add(Pending(message.mid, message.qos, generation, topic, b"", [], [], 1))
            return
        m.messages.inc()
        now = self._clock()
        key = fingerprint(topic, payload)
        strikes = self._journal.suspect(key)
        readings: list[DecodedReading]
        rejections: list[Rejection]
        offline: list[OfflineEvent] | None = None
        births: Snapshot | None = None
        try:
            if strikes >= self._options.quarantine_after:
                readings, rejections = [], [self._quarantined(topic, payload, strikes, now)]
            elif is_sparkplug(topic):
                # one host state, in receipt order: seq, aliases and births are per node
                decoded = self.sparkplug.decode(topic, payload, now)
                readings, rejections = decoded.result.readings, decoded.result.rejections
                offline, births = decoded.offline or None, decoded.births
                self.sparkplug.publish(self._client, decoded.result.commands)
            else:
                readings, rejections = decode(
                    topic,
                    payload,
                    self._index,
                    now,
                    limits=self._options.limits,
                    prefix=self._prefix,
                )
        except Exception:  # decode is total; this is a last line for a bug around it
            readings, rejections = [], [self._quarantined(topic, payload, 0, now)]
        if readings:
            m.readings.inc(len(readings))
        if not readings and not rejections:
            m.ignored.inc()
        for rejection in rejections:
            self._reject_log(rejection)
        weight = max(1, len(readings) + len(rejections))
        self._loop.add(
            Pending(
                message.mid,
                message.qos,
                generation,
                topic,
                payload,
                readings,
                rejections,
                weight,
                key,
                strikes,
                offline,
                births,
            )
        )

    def _quarantined(self, topic: str, payload: bytes, strikes: int, now: datetime) -> Rejection:
        if strikes:
            why = (
                f"in flight each time the ingester died ({strikes} times); not written. "
                f"Last error:\n{self._journal.last_error}"
            )
        else:
            why = "handling this message failed:\n" + traceback.format_exc()
        log.error("ingest: quarantining a message from %s: %s", topic, why.splitlines()[0])
        return dead_letter(topic, Reason.QUARANTINED, why, payload, None, now)

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

    def _ack(self, batch: Iterable[Pending]) -> None:
        """PUBACK in receipt order, on the connection the messages came in on."""
        client, generation = self._client, self._generation
        acked = stale = 0
        for pending in batch:
            if pending.qos == 0:
                continue
            if pending.topic == self._own_state:
                if client is not None and pending.generation == generation:
                    client.ack(pending.mid, pending.qos)
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
        unmapped = 0
        while True:
            await asyncio.sleep(self._options.summary_interval_s)
            self.metrics.pending.set(self._loop.waiting())
            log.info("%s", summary.line())
            listed = self.sparkplug.report_unmapped()
            if listed != unmapped:
                unmapped = listed
                log.info(
                    "ingest: %d Sparkplug metrics not mapped by the plant file (%s)",
                    listed,
                    self._options.journal_file and unmapped_file_for(self._options.journal_file),
                )


def _utc_now() -> datetime:
    return datetime.now(UTC)
