"""The MQTT side of the ingester: an aiomqtt client that acknowledges only when told to."""

from __future__ import annotations

import asyncio
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from app.config import Settings
from app.mqtt import client_kwargs
from ingest.options import IngestOptions


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


def new_client(
    settings: Settings, options: IngestOptions, *, will: aiomqtt.Will | None = None
) -> AckingClient:
    """A client with a persistent session: MQTT v5 with Receive Maximum, or 3.1.1.

    ``will``: the Sparkplug host's STATE "offline", sent by the broker if the connection
    is lost (the host's STATE rides on the ingest connection, as the spec wants).
    """
    common: dict[str, Any] = {
        "identifier": settings.mqtt_client_id,
        "will": will,
        "keepalive": options.keepalive_s,
        "timeout": 10.0,
        **client_kwargs(settings),
    }
    if not options.mqtt_v5:
        return AckingClient(protocol=aiomqtt.ProtocolVersion.V311, clean_session=False, **common)
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = options.session_expiry_s
    properties.ReceiveMaximum = options.receive_maximum
    return AckingClient(
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=False,  # never: the session holds what was not acknowledged
        properties=properties,
        **common,
    )
