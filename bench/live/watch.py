"""What the live benchmark observes, each kind run as its own process.

* ``mqtt``: a plain paho subscriber to the probe topics (the broker's own
  publish→subscribe latency): records (probe time, receive time) per message.
* ``ws``: one websocket client of ``greenpulse serve`` recording, per frame, its
  receive time and ``freshness.newest_reading_at``.
* ``clients``: N websocket clients (a wall screen each) counting frames and
  their inter-arrival times over a window the orchestrator starts.

Times are wall-clock microseconds (``time.time_ns() // 1000``): the publisher,
the subscriber and the clients run on one machine, so their clocks agree.
``mqtt`` and ``ws`` print ``ready`` once subscribed, run until ``--until`` (epoch
seconds) and write JSON to ``--out``. ``clients`` prints ``ready <ok> <failed>``
once every client has its first frame, reads ``start <epoch s> <window s>``
from stdin, and prints one JSON line when the window is over.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

MAX_FRAME = 1 << 24
CONNECT_CONCURRENCY = 50


def _now_us() -> int:
    return time.time_ns() // 1000


def _iso_us(text: str) -> int:
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(t.timestamp()) * 1_000_000 + t.microsecond


# --- mqtt: the broker baseline -----------------------------------------------------------------


def watch_mqtt(port: int, prefix: str, until: float, out: Path) -> None:
    received: list[tuple[int, bytes | bytearray]] = []
    lock = threading.Lock()
    subscribed = threading.Event()

    def on_message(_c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        at = _now_us()
        with lock:
            received.append((at, message.payload))

    def on_subscribe(*_args: object) -> None:
        subscribed.set()

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"bench-live-sub-{time.time_ns()}",
        clean_session=True,
    )
    client.on_message = on_message
    client.on_subscribe = on_subscribe
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    try:
        client.subscribe(f"{prefix}/+/+/reading", qos=1)
        if not subscribed.wait(10):
            raise RuntimeError("subscription not acknowledged")
        print("ready", flush=True)
        while time.time() < until:
            time.sleep(0.05)
    finally:
        client.disconnect()
        client.loop_stop()
    with lock:
        pairs = [(_iso_us(json.loads(p)["ts"]), at) for at, p in received]
    out.write_text(json.dumps({"pairs": pairs}), encoding="utf-8")


# --- ws: end-to-end frames ---------------------------------------------------------------------


async def watch_ws(url: str, until: float, out: Path) -> None:
    frames: list[tuple[int, int | None, int]] = []
    async with connect(url, max_size=MAX_FRAME, open_timeout=30, ping_interval=None) as ws:
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions") if ws.response else None
        first = True
        while time.time() < until:
            try:
                raw = await asyncio.wait_for(ws.recv(decode=False), max(until - time.time(), 0.01))
            except TimeoutError:
                break
            at = _now_us()
            snap = json.loads(raw)
            newest = snap.get("freshness", {}).get("newest_reading_at")
            frames.append((at, _iso_us(newest) if newest else None, len(raw)))
            if first:
                print("ready", flush=True)
                first = False
    body = json.dumps({"frames": frames, "extensions": extensions})
    await asyncio.to_thread(out.write_text, body, encoding="utf-8")


# --- clients: wall screens per API process -----------------------------------------------------


class _Screen:
    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.first = asyncio.Event()
        self.closed = False
        self.failed = False


async def _screen(url: str, screen: _Screen, gate: asyncio.Semaphore, stop: asyncio.Event) -> None:
    ws: ClientConnection | None = None
    try:
        async with gate:
            ws = await connect(url, max_size=MAX_FRAME, open_timeout=60, ping_interval=None)
        while not stop.is_set():
            await ws.recv(decode=False)
            screen.arrivals.append(time.time())
            screen.first.set()
    except ConnectionClosed:
        screen.closed = True
    except Exception:  # refused, timed out, reset: counted, reported
        screen.failed = True
    finally:
        screen.first.set()
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()


async def run_clients(url: str, count: int, ready_timeout: float) -> None:
    stop = asyncio.Event()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    screens = [_Screen() for _ in range(count)]
    tasks = [asyncio.create_task(_screen(url, s, gate, stop)) for s in screens]
    loop = asyncio.get_running_loop()
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ready_timeout):
                await asyncio.gather(*(s.first.wait() for s in screens))
        ok = sum(1 for s in screens if s.arrivals and not (s.failed or s.closed))
        print(f"ready {ok} {count - ok}", flush=True)
        line = await loop.run_in_executor(None, sys.stdin.readline)
        parts = line.split()
        if len(parts) != 3 or parts[0] != "start":
            return
        start, window = float(parts[1]), float(parts[2])
        await asyncio.sleep(max(0.0, start - time.time()))
        cpu0 = time.process_time()
        await asyncio.sleep(max(0.0, start + window - time.time()))
        cpu = time.process_time() - cpu0
        end = start + window
        counts: list[int] = []
        gaps: list[float] = []
        for s in screens:
            inside = [t for t in s.arrivals if start <= t < end]
            counts.append(len(inside))
            gaps.extend(b - a for a, b in itertools.pairwise(inside))
        result: dict[str, Any] = {
            "counts": counts,
            "gaps": [round(g, 4) for g in gaps],
            "closed": sum(s.closed for s in screens),
            "failed": sum(s.failed for s in screens),
            "cpu_s": cpu,
        }
        print(json.dumps(result), flush=True)
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["mqtt", "ws", "clients"])
    parser.add_argument("--port", type=int, default=0, help="broker port (mqtt)")
    parser.add_argument("--prefix", default="greenpulse")
    parser.add_argument("--url", default="", help="websocket URL (ws, clients)")
    parser.add_argument("--until", type=float, default=0.0, help="epoch seconds (mqtt, ws)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--count", type=int, default=1, help="clients")
    parser.add_argument("--ready-timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    until = min(args.until, time.time() + 600)  # bounded whatever the caller says
    if args.kind == "mqtt":
        watch_mqtt(args.port, args.prefix, until, args.out)
    elif args.kind == "ws":
        asyncio.run(watch_ws(args.url, until, args.out))
    else:
        asyncio.run(run_clients(args.url, args.count, args.ready_timeout))
    return 0


if __name__ == "__main__":
    sys.exit(main())
