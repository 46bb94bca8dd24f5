"""A deterministic set of demo-plant readings and a fast QoS 1 publisher for them.

Used by the ingest benchmark and the no-loss tests. Run it as its own process
(``python -m bench.ingest.publish``) so publishing does not take the CPU of the
process under test.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from app.domain.plant import Plant
from app.domain.registers import RegisterKind
from app.mqtt import batch_topic, reading_topic
from app.plant.file import load_plant


@dataclass(frozen=True, slots=True)
class Point:
    """One published reading."""

    site_id: str
    meter_id: str
    time: datetime
    value: float
    unit: str
    seq: int


def plant_points(
    plant: Plant, count: int, *, end: datetime | None = None, step_s: int = 60
) -> list[Point]:
    """``count`` readings with unique (meter, time), round-robin over every meter.

    Times are on a ``step_s`` grid ending at ``end`` (default: now, rounded), so
    none is in the future; values rise slowly, so no register event fires.
    """
    meters = list(plant.meters())
    rounds = -(-count // len(meters))
    end = end or datetime.now(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(seconds=step_s * rounds)
    points: list[Point] = []
    for i in range(count):
        site, meter = meters[i % len(meters)]
        k = i // len(meters)
        if meter.register_kind is RegisterKind.CUMULATIVE:
            # at most 0.5 canonical units a step and half the meter's plausible rate (so no
            # register event fires); behind a CT ratio the raw register moves less
            rate = meter.plausible_rate_per_hour()
            step = 0.5 if rate is None else min(0.5, rate * step_s / 3600 / 2)
            value = 1000.0 + k * step / meter.multiplier
        elif meter.register_kind is RegisterKind.INTERVAL:
            value = 0.5
        else:
            value = 10.0 + (k % 7)
        points.append(
            Point(site.id, meter.id, start + timedelta(seconds=step_s * k), value, meter.unit, k)
        )
    return points


def messages(points: list[Point], prefix: str, per_message: int) -> Iterator[tuple[str, bytes]]:
    """(topic, payload) pairs: single readings, or gateway batches of ``per_message``."""
    if per_message <= 1:
        for p in points:
            body = {"ts": p.time.isoformat(), "value": p.value, "unit": p.unit, "seq": p.seq}
            yield reading_topic(prefix, p.site_id, p.meter_id), json.dumps(body).encode()
        return
    for start in range(0, len(points), per_message):
        chunk = points[start : start + per_message]
        body = {
            "gateway": "gw-bench",
            "readings": [
                {
                    "meter": p.meter_id,
                    "ts": int(p.time.timestamp() * 1000),
                    "value": p.value,
                    "unit": p.unit,
                    "seq": p.seq,
                }
                for p in chunk
            ],
        }
        yield batch_topic(prefix, chunk[0].site_id, "gw-bench"), json.dumps(body).encode()


def publish(
    host: str,
    port: int,
    payloads: list[tuple[str, bytes]],
    *,
    rate: float | None = None,
    timeout_s: float = 120.0,
    client_id: str = "greenpulse-bench-publisher",
) -> float:
    """Publish at QoS 1 and wait for every PUBACK; returns the seconds it took.

    Raises:
        TimeoutError: not every message was acknowledged by the broker in time.
    """
    # A persistent session and paho's automatic reconnect: a broker restart
    # mid-stream must not lose what this publisher has in flight or queued.
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    client.max_inflight_messages_set(1000)  # paho's default 20 would make this slow
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(1, 2)
    client.connect(host, port, keepalive=30)
    client.loop_start()
    started = time.monotonic()
    acked = [0]
    lock = threading.Lock()

    def on_publish(_c: object, _u: object, _mid: int, _rc: object, _p: object) -> None:
        with lock:  # paho's network thread
            acked[0] += 1

    client.on_publish = on_publish
    try:
        for n, (topic, payload) in enumerate(payloads):
            # published while the broker is away: paho keeps it (rc NO_CONN) and
            # sends it after reconnecting, so completion is judged by PUBACKs only
            client.publish(topic, payload, qos=1)
            if rate is not None:
                ahead = started + n / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
        deadline = started + timeout_s
        while time.monotonic() < deadline:
            with lock:
                if acked[0] >= len(payloads):
                    return time.monotonic() - started
            time.sleep(0.02)
        raise TimeoutError(
            f"{len(payloads) - acked[0]} messages not acknowledged by the broker in time"
        )
    finally:
        client.disconnect()
        client.loop_stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--prefix", default="greenpulse")
    parser.add_argument("--count", type=int, default=20_000, help="readings")
    parser.add_argument("--per-message", type=int, default=1)
    parser.add_argument("--rate", type=float, default=None, help="messages/s (default: flat out)")
    parser.add_argument("--end", default=None, help="ISO time of the newest reading")
    parser.add_argument("--plant-file", default=None)
    parser.add_argument("--client-id", default="greenpulse-bench-publisher")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument(
        "--sparkplug", action="store_true", help="as Sparkplug B DDATA (after the births)"
    )
    args = parser.parse_args(argv)
    end = datetime.fromisoformat(args.end) if args.end else None
    points = plant_points(load_plant(args.plant_file), args.count, end=end)
    if args.sparkplug:
        from bench.ingest.sparkplug_publish import sparkplug_messages

        payloads = sparkplug_messages(points, args.per_message, plant_file=args.plant_file)
    else:
        payloads = list(messages(points, args.prefix, args.per_message))
    took = publish(
        args.host,
        args.port,
        payloads,
        rate=args.rate,
        timeout_s=args.timeout,
        client_id=args.client_id,
    )
    print(f"published {len(payloads)} messages ({len(points)} readings) in {took:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
