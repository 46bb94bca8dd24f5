"""Baselines the ingester is measured against, each run as its own process.

* ``bare``: an aiomqtt client with a no-op handler (paho acknowledges at once)
  receiving the same messages: the most any MQTT ingester in Python can take.
* ``naive``: decode, INSERT, COMMIT and acknowledge per message: what a first
  attempt at an ingester does.
* ``loop``: the GreenPulse ingest loop (decode, batch, acknowledge after
  "commit") with a writer that does nothing: the ingester's cost without the
  database, to tell the loop's share from the writer's.
* ``copy_rows``: psycopg binary COPY of the same rows into the same hypertable:
  the most the database takes (called in-process by ``bench.ingest.run``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import aiomqtt
import psycopg
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bench.ingest.publish import Point
from ingest.writer import WriteResult

SESSION_EXPIRY_S = 3600


def session_client(
    port: int, client_id: str, *, receive_maximum: int, auto_ack: bool = True
) -> aiomqtt.Client:
    """A persistent-session MQTT v5 client, as the ingester connects."""
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = SESSION_EXPIRY_S
    properties.ReceiveMaximum = receive_maximum
    client = aiomqtt.Client(
        "127.0.0.1",
        port,
        identifier=client_id,
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=False,
        properties=properties,
    )
    client._client.manual_ack_set(not auto_ack)
    return client


async def create_session(port: int, client_id: str, topics: Sequence[str]) -> None:
    """Subscribe under ``client_id`` and leave, so the broker queues what is published next."""
    async with session_client(port, client_id, receive_maximum=1) as client:
        for topic in topics:
            await client.subscribe(topic, qos=1)


async def bare(port: int, client_id: str, expect: int, timeout_s: float, window: int) -> None:
    """Receive ``expect`` messages with a no-op handler; print 'first last count'."""
    first = last = 0.0
    count = 0
    async with session_client(port, client_id, receive_maximum=window) as client:
        try:
            async with asyncio.timeout(timeout_s):
                async for _message in client.messages:
                    last = time.monotonic()
                    if count == 0:
                        first = last
                    count += 1
                    if count >= expect:
                        break
        except TimeoutError:
            pass
    print(f"{first} {last} {count}")


async def naive(
    port: int, client_id: str, dsn: str, expect: int, timeout_s: float, window: int
) -> None:
    """Per message: JSON, INSERT ... ON CONFLICT DO NOTHING, COMMIT. Print 'first last count'."""
    first = last = 0.0
    count = 0
    sql = (
        "INSERT INTO readings (meter_id, time, raw_value, raw_unit, value, quality, seq, "
        "received_at) VALUES (%s, %s, %s, %s, %s, 0, %s, now()) ON CONFLICT DO NOTHING"
    )
    with psycopg.connect(dsn) as conn:
        async with session_client(port, client_id, receive_maximum=window) as client:
            try:
                async with asyncio.timeout(timeout_s):
                    async for message in client.messages:
                        if count == 0:
                            first = time.monotonic()
                        rows = _rows(message.topic.value, bytes(message.payload))
                        with conn.cursor() as cur:
                            cur.executemany(sql, rows)
                        conn.commit()
                        last = time.monotonic()
                        count += 1
                        if count >= expect:
                            break
            except TimeoutError:
                pass
    print(f"{first} {last} {count}")


class _NoopWriter:
    def prepare(self, readings: Sequence[Any], *, now: datetime) -> int:
        return len(readings)

    def commit(
        self,
        plan: int,
        rejections: Sequence[Any],
        *,
        after: Callable[[float | None], bool] | None = None,
    ) -> WriteResult:
        return WriteResult(written=plan, rejected=len(rejections))


async def loop(
    port: int, client_id: str, prefix: str, expect: int, timeout_s: float, window: int
) -> None:
    """The ingest loop with a no-op writer; print 'first last count' (count: acknowledged).

    ``prefix`` must be the publisher's: with another, every message would be rejected
    as an unknown topic, and the loop would measure how fast it rejects.
    """
    from app.config import Settings
    from app.plant.file import load_plant
    from ingest.service import Ingester, IngestOptions

    settings = Settings(
        mqtt_url=f"mqtt://127.0.0.1:{port}", mqtt_client_id=client_id, mqtt_topic_prefix=prefix
    )
    options = IngestOptions(summary_interval_s=3600, receive_maximum=window)
    ingester = Ingester(settings, load_plant(), _NoopWriter(), options)
    m = ingester.metrics
    stop = asyncio.Event()
    # from before connecting: a burst is decoded in runs without yielding to a poller,
    # so "first message seen" would be late; connecting costs a few milliseconds
    first = time.monotonic()
    task = asyncio.create_task(ingester.run(stop))
    for _ in range(int(timeout_s / 0.005)):
        if m.value(m.acked) >= expect:
            break
        await asyncio.sleep(0.005)
    last = time.monotonic()
    stop.set()
    await task
    if m.value(m.readings) == 0:
        raise SystemExit(f"the loop decoded no reading; is {prefix!r} the publisher's prefix?")
    print(f"{first} {last} {m.value(m.acked):.0f}")


def _rows(topic: str, payload: bytes) -> list[tuple[object, ...]]:
    body = json.loads(payload)
    if topic.endswith("/reading"):
        meter = topic.split("/")[2]
        ts = datetime.fromisoformat(body["ts"])
        v = body["value"]
        return [(meter, ts, v, body["unit"], v, body.get("seq"))]
    return [
        (
            r["meter"],
            datetime.fromtimestamp(r["ts"] / 1000, UTC),
            r["value"],
            r["unit"],
            r["value"],
            r.get("seq"),
        )
        for r in body["readings"]
    ]


def copy_rows(dsn: str, points: Sequence[Point]) -> float:
    """Binary COPY of the points into ``readings``; returns the seconds COPY + COMMIT took."""
    now = datetime.now(UTC)
    rows = [(p.meter_id, p.time, p.value, p.unit, p.value, None, 0, p.seq, now) for p in points]
    with psycopg.connect(dsn) as conn:
        started = time.monotonic()
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY readings (meter_id, time, raw_value, raw_unit, value, quantity, quality, "
                "seq, "
                "received_at) FROM STDIN (FORMAT BINARY)"
            ) as copy,
        ):
            copy.set_types(
                [
                    "varchar",
                    "timestamptz",
                    "float8",
                    "varchar",
                    "float8",
                    "float8",
                    "int2",
                    "int4",
                    "timestamptz",
                ]
            )
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["bare", "naive", "loop"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--expect", type=int, required=True, help="messages")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--window", type=int, default=20_000, help="Receive Maximum")
    parser.add_argument("--dsn", default=None)
    parser.add_argument("--prefix", default="greenpulse", help="topic prefix (loop)")
    args = parser.parse_args(argv)
    if args.kind == "bare":
        asyncio.run(bare(args.port, args.client_id, args.expect, args.timeout, args.window))
    elif args.kind == "loop":
        asyncio.run(
            loop(args.port, args.client_id, args.prefix, args.expect, args.timeout, args.window)
        )
    else:
        asyncio.run(
            naive(args.port, args.client_id, args.dsn, args.expect, args.timeout, args.window)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
