"""A small asyncio MQTT v5 subscriber over the Rust-backed ``mqtt5`` codec (a prototype).

Only what an ingester needs: CONNECT (persistent session, Receive Maximum,
optional user name and password, TLS through ``ssl``), SUBSCRIBE, QoS 0/1
PUBLISH in, PUBACK sent when the application says so (manual
acknowledgement), PINGREQ for keepalive, DISCONNECT. QoS 2 is not offered.

Packets are framed and decoded by ``mqtt5.read`` straight from the socket
buffer; acknowledgements queued while a buffer is being handled go out in one
``transport.write``.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Sequence

import mqtt5


class MqttProtocolError(RuntimeError):
    """The broker refused the connection or sent something this client cannot take."""


OnPublish = Callable[["Mqtt5Subscriber", mqtt5.PublishPacket], None]


class Mqtt5Subscriber(asyncio.Protocol):
    """One connection; ``on_publish(self, packet)`` is called in the event loop for every PUBLISH.

    It can be called before ``connect`` returns: a session with queued messages
    sends them right behind the CONNACK, often in the same read.
    """

    def __init__(self, on_publish: OnPublish) -> None:
        self._on_publish = on_publish
        self._buffer = bytearray()
        self._out = bytearray()
        self._flush_scheduled = False
        self._transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self._loop = loop
        self.connack: asyncio.Future[mqtt5.ConnAckPacket] = loop.create_future()
        self.suback: asyncio.Future[mqtt5.SubAckPacket] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self._ping: asyncio.TimerHandle | None = None
        self.connack_at = 0.0  # monotonic time the CONNACK was read

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        offset = 0
        size = len(buffer)
        with memoryview(buffer) as view:
            while offset < size:
                try:
                    packet, used = mqtt5.read(view[offset:])
                except IndexError:  # an incomplete packet: wait for more bytes
                    break
                offset += used
                self._dispatch(packet)
        del buffer[:offset]
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._ping is not None:
            self._ping.cancel()
        for future in (self.connack, self.suback):
            if not future.done():
                future.set_exception(MqttProtocolError(f"connection lost: {exc!r}"))
        if not self.closed.done():
            self.closed.set_result(None)

    # -- what the application calls ----------------------------------------------------------

    def ack(self, packet_id: int) -> None:
        """Queue the PUBACK for ``packet_id``; it is written with the next flush."""
        self._out += mqtt5.PubAckPacket(packet_id).write()
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def send(self, packet: bytes) -> None:
        self._out += packet
        self._flush()

    def keepalive(self, interval_s: float) -> None:
        def ping() -> None:
            self.send(mqtt5.PingReqPacket().write())
            self._ping = self._loop.call_later(interval_s, ping)

        self._ping = self._loop.call_later(interval_s, ping)

    async def disconnect(self, timeout_s: float = 5.0) -> None:
        """Send DISCONNECT and wait for the broker to close the connection.

        The broker closes only after reading everything sent before the
        DISCONNECT, so every PUBACK queued so far has been taken. Closing from
        this side at once would not say so: a new connection under the same
        client id could take the session over before the broker read them.
        """
        self.send(mqtt5.DisconnectPacket().write())
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), timeout_s)
        except TimeoutError:
            if self._transport is not None:
                self._transport.close()
            await self.closed

    # -- internals ------------------------------------------------------------------------

    def _dispatch(self, packet: object) -> None:
        if isinstance(packet, mqtt5.PublishPacket):
            self._on_publish(self, packet)
        elif isinstance(packet, mqtt5.ConnAckPacket):
            self.connack_at = time.monotonic()
            self.connack.set_result(packet)
        elif isinstance(packet, mqtt5.SubAckPacket):
            if not self.suback.done():
                self.suback.set_result(packet)
        elif isinstance(packet, mqtt5.DisconnectPacket):
            if self._transport is not None:
                self._transport.close()
        elif not isinstance(packet, mqtt5.PingRespPacket):
            raise MqttProtocolError(f"unexpected {type(packet).__name__}")

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._out and self._transport is not None:
            self._transport.write(bytes(self._out))
            self._out.clear()


async def connect(
    host: str,
    port: int,
    client_id: str,
    on_publish: OnPublish,
    *,
    receive_maximum: int = 20_000,
    session_expiry_s: int = 3600,
    keepalive_s: int = 60,
    username: str | None = None,
    password: bytes | None = None,
    tls: ssl.SSLContext | None = None,
    topics: Sequence[str] = (),
    timeout_s: float = 10.0,
) -> tuple[Mqtt5Subscriber, bool]:
    """Connect with a persistent session; subscribe only when the session is new.

    Returns the protocol and whether the broker had the session.
    """
    loop = asyncio.get_running_loop()
    _transport, protocol = await loop.create_connection(
        lambda: Mqtt5Subscriber(on_publish), host, port, ssl=tls
    )
    protocol.send(
        mqtt5.ConnectPacket(
            client_id,
            username=username,
            password=password,
            clean_start=False,
            keep_alive=keepalive_s,
            session_expiry_interval=session_expiry_s,
            receive_max=receive_maximum,
        ).write()
    )
    connack = await asyncio.wait_for(protocol.connack, timeout_s)
    if connack.reason_code != mqtt5.ConnAckReasonCode.SUCCESS:
        await protocol.disconnect()
        raise MqttProtocolError(f"CONNACK {connack.reason_code!r}")
    protocol.keepalive(keepalive_s / 2)
    if topics and not connack.session_present:
        filters = [mqtt5.TopicFilter(t, max_qos=mqtt5.QoS.AT_LEAST_ONCE) for t in topics]
        protocol.send(mqtt5.SubscribePacket(1, filters).write())
        await asyncio.wait_for(protocol.suback, timeout_s)
    return protocol, connack.session_present
