"""Candidate MQTT receive paths, each draining a pre-queued persistent session.

    python -m bench.mqtt_codec.clients KIND --port P --client-id ID --expect N [--decode]

Every candidate connects with ``clean_start=False`` to a session that already
holds the messages, acknowledges every QoS 1 message itself (manual
acknowledgement: nothing is acknowledged by the library on receipt), stops at
``--expect`` messages and prints one JSON line: first and last message time,
count, and the process's CPU (user + system, ``getrusage``) from CONNACK to the
last acknowledgement written. ``--decode`` also runs the ingester's decode on
each message (the MQTT path plus what the ingester must do anyway).

Kinds:
  aiomqtt-v5, aiomqtt-v311  aiomqtt 2.5 over paho, ``async for`` (what the ingester uses)
  paho-v5, paho-v311        paho 2.x alone: ``on_message`` in paho's own loop (no asyncio)
  mqtt5                     our small asyncio client over the Rust ``mqtt5`` codec (v5 only)
  ingest-loop               the GreenPulse ingest loop with a no-op writer (batches, acks)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

import aiomqtt
import mqtt5
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench.mqtt_codec.mqtt5_client import Mqtt5Subscriber, connect

RECEIVE_MAXIMUM = 20_000
SESSION_EXPIRY_S = 3600

Handler = Callable[[str, bytes], None]


def _peak_rss_mb() -> float:
    """This process's resident-memory high-water mark (VmHWM; ru_maxrss survives exec)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Tally:
    """First and last message, count, CPU at CONNACK and at the end."""

    def __init__(self, expect: int, handler: Handler) -> None:
        self.expect = expect
        self.handler = handler
        self.count = 0
        self.first = self.last = 0.0
        self.cpu_connack = 0.0

    def connected(self) -> None:
        self.cpu_connack = _cpu()

    def seen(self, topic: str, payload: bytes) -> bool:
        """Handle one message; True when it was the last expected."""
        self.handler(topic, payload)
        self.last = time.monotonic()
        if self.count == 0:
            self.first = self.last
        self.count += 1
        return self.count >= self.expect

    def report(self, connack_at: float) -> str:
        return json.dumps(
            {
                "first": self.first,
                "last": self.last,
                "count": self.count,
                "connack": connack_at,
                "cpu_s": _cpu() - self.cpu_connack,
                "max_rss_mb": _peak_rss_mb(),
            }
        )


def make_handler(decode: bool, prefix: str) -> Handler:
    if not decode:
        return lambda _topic, _payload: None
    from app.plant.file import load_plant
    from ingest.decode import PlantIndex
    from ingest.decode import decode as decode_message

    index = PlantIndex.from_plant(load_plant())
    now = datetime.now(UTC)

    def handle(topic: str, payload: bytes) -> None:
        readings, _rejections = decode_message(topic, payload, index, now, prefix=prefix)
        if not readings:
            raise SystemExit(f"decode found no reading in {topic}")

    return handle


def _v5_properties() -> Properties:
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = SESSION_EXPIRY_S
    properties.ReceiveMaximum = RECEIVE_MAXIMUM
    return properties


async def run_aiomqtt(port: int, client_id: str, tally: Tally, v5: bool) -> str:
    kwargs: dict[str, object] = (
        {"protocol": aiomqtt.ProtocolVersion.V5, "clean_start": False}
        | {"properties": _v5_properties()}
        if v5
        else {"protocol": aiomqtt.ProtocolVersion.V311, "clean_session": False}
    )
    client = aiomqtt.Client("127.0.0.1", port, identifier=client_id, **kwargs)  # type: ignore[arg-type]
    client._client.manual_ack_set(True)
    async with client:
        connack_at = time.monotonic()
        tally.connected()
        async for message in client.messages:
            payload = message.payload
            assert isinstance(payload, bytes)
            done = tally.seen(message.topic.value, payload)
            client._client.ack(message.mid, message.qos)
            if done:
                break
    return tally.report(connack_at)


def run_paho(port: int, client_id: str, tally: Tally, v5: bool) -> str:
    if v5:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    else:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
            clean_session=False,
        )
    client.manual_ack_set(True)
    connack_at = [0.0]

    def on_connect(c: mqtt.Client, _u: object, _f: object, rc: object, _p: object) -> None:
        connack_at[0] = time.monotonic()
        tally.connected()

    def on_message(c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        done = tally.seen(message.topic, bytes(message.payload))
        c.ack(message.mid, message.qos)
        if done:
            c.disconnect()  # queued after the PUBACKs, so they are written first

    client.on_connect = on_connect
    client.on_message = on_message
    if v5:
        properties = _v5_properties()
        client.connect("127.0.0.1", port, 60, clean_start=False, properties=properties)
    else:
        client.connect("127.0.0.1", port, keepalive=60)
    client.loop_forever()
    return tally.report(connack_at[0])


async def run_mqtt5(port: int, client_id: str, tally: Tally) -> str:
    done = asyncio.Event()

    def on_publish(proto: Mqtt5Subscriber, packet: mqtt5.PublishPacket) -> None:
        if not tally.count:
            tally.connected()  # messages can arrive with the CONNACK, before connect returns
        last = tally.seen(packet.topic, packet.payload)
        if packet.packet_id is not None:
            proto.ack(packet.packet_id)
        if last:
            done.set()

    proto, _present = await connect(
        "127.0.0.1", port, client_id, on_publish, receive_maximum=RECEIVE_MAXIMUM
    )
    connack_at = proto.connack_at
    if not tally.count:
        tally.connected()
    finished: asyncio.Future[object] = asyncio.ensure_future(done.wait())
    closed: asyncio.Future[object] = proto.closed  # type: ignore[assignment]
    await asyncio.wait([finished, closed], return_when=asyncio.FIRST_COMPLETED)
    if not done.is_set():
        raise SystemExit(f"connection lost after {tally.count} messages")
    await proto.disconnect()
    return tally.report(connack_at)


async def count_redelivered(port: int, client_id: str, quiet_s: float = 1.0) -> int:
    """Reconnect to the session and count what the broker still delivers (0: all acked)."""
    got = [0]

    def on_publish(_proto: Mqtt5Subscriber, _packet: mqtt5.PublishPacket) -> None:
        got[0] += 1

    proto, _ = await connect("127.0.0.1", port, client_id, on_publish, receive_maximum=65535)
    seen = -1
    while seen != got[0]:
        seen = got[0]
        await asyncio.sleep(quiet_s)
    await proto.disconnect()
    return got[0]


def run_ingest_loop(port: int, client_id: str, prefix: str, expect: int) -> str:
    """bench.ingest.baselines.loop under getrusage (its CPU includes connecting)."""
    import contextlib
    import io

    from bench.ingest.baselines import loop

    cpu0 = _cpu()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        asyncio.run(loop(port, client_id, prefix, expect, 120.0, RECEIVE_MAXIMUM))
    first, last, count = out.getvalue().split()
    return json.dumps(
        {
            "first": float(first),
            "last": float(last),
            "count": int(float(count)),
            "connack": float(first),
            "cpu_s": _cpu() - cpu0,
            "max_rss_mb": _peak_rss_mb(),
        }
    )


KINDS = ("aiomqtt-v5", "aiomqtt-v311", "paho-v5", "paho-v311", "mqtt5", "ingest-loop", "check")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--expect", type=int, default=50_000)
    parser.add_argument("--prefix", default="greenpulse")
    parser.add_argument("--decode", action="store_true")
    args = parser.parse_args(argv)
    if args.kind == "check":
        print(asyncio.run(count_redelivered(args.port, args.client_id)))
        return 0
    if args.kind == "ingest-loop":
        print(run_ingest_loop(args.port, args.client_id, args.prefix, args.expect))
        return 0
    tally = Tally(args.expect, make_handler(args.decode, args.prefix))
    if args.kind.startswith("aiomqtt"):
        line = asyncio.run(run_aiomqtt(args.port, args.client_id, tally, args.kind.endswith("v5")))
    elif args.kind.startswith("paho"):
        line = run_paho(args.port, args.client_id, tally, args.kind.endswith("v5"))
    else:
        line = asyncio.run(run_mqtt5(args.port, args.client_id, tally))
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
