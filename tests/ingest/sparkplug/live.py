"""A live primary host for the peer tests: a paho subscriber on ``spBv1.0/#`` feeding
``decode_sparkplug`` and publishing its commands and STATE, as the ingest loop will."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import paho.mqtt.client as mqtt

from ingest.decode import DecodedReading, Rejection
from ingest.sparkplug import SUBSCRIPTION, HostState, OfflineEvent, decode_sparkplug


class LiveHost:
    def __init__(self, port: int, state: HostState) -> None:
        self.state = state
        self.readings: list[DecodedReading] = []
        self.rejections: list[Rejection] = []
        self.offline: list[OfflineEvent] = []
        self.commands: list[str] = []
        self._lock = threading.Condition()
        self._subscribed = threading.Event()
        self._connected_ms = int(time.time() * 1000)
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"gp-host-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        will = state.host.state_will(self._connected_ms)
        self.client.will_set(will.topic, will.payload, will.qos, will.retain)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("the host did not subscribe within 10 s")

    def _on_connect(self, client: mqtt.Client, *_: object) -> None:
        client.subscribe(SUBSCRIPTION, qos=1)
        online = self.state.host.state_online(self._connected_ms)
        client.publish(online.topic, online.payload, online.qos, online.retain)

    def _on_subscribe(self, *_: object) -> None:
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, _: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            out = decode_sparkplug(msg.topic, msg.payload, datetime.now(UTC), self.state)
            self.readings.extend(out.readings)
            self.rejections.extend(out.rejections)
            self.offline.extend(out.offline)
            for command in out.commands:
                self.commands.append(command.topic)
                client.publish(command.topic, command.payload, command.qos, command.retain)
            self._lock.notify_all()

    def wait(self, what: str, done: Callable[[LiveHost], bool], timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while not done(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"timed out waiting for {what}; counts {self.state.host.counts}; "
                        f"rejections {self.rejections[:3]}; readings {self.readings[-3:]}"
                    )
                self._lock.wait(left)

    def values(self, meter_id: str) -> dict[int, float]:
        """``time_ms -> value`` of one meter's readings (births repeat values: a set)."""
        with self._lock:
            return {r.time_us // 1000: r.raw_value for r in self.readings if r.meter_id == meter_id}

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
