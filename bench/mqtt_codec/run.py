"""Candidate MQTT receive paths, side by side on the same pre-queued messages.

    .venv/bin/python -m bench.mqtt_codec.run [--messages 50000] [--rounds 2] [--decode]

One throwaway Mosquitto with the recommended configuration (ingest/broker.py).
A persistent session per candidate and round is created first, then
``--messages`` single-reading QoS 1 messages are published once (a separate
process) and queued for every session. Each candidate then drains its own
session alone, in its own process, acknowledging each message itself
(``bench.mqtt_codec.clients``); afterwards the session is reopened and what the
broker still delivers is counted (0 = every PUBACK was really sent).

Rounds interleave the candidates, so a change in the machine's load shows up
in every candidate of a round; compare ratios within a round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.ingest.baselines import create_session
from bench.ingest.measure import load_average
from ingest.broker import Mosquitto, start_mosquitto

CANDIDATES = ("aiomqtt-v5", "aiomqtt-v311", "paho-v5", "paho-v311", "mqtt5", "ingest-loop")
REFERENCE = "aiomqtt-v5"


@dataclass(frozen=True)
class Result:
    kind: str
    round: int
    per_s: float
    cpu_s: float
    rss_mb: float
    redelivered: int
    count: int


def _client(kind: str, broker: Mosquitto, client_id: str, args: list[str]) -> str:
    out = subprocess.run(
        [
            *(sys.executable, "-m", "bench.mqtt_codec.clients", kind),
            *(f"--port={broker.port}", f"--client-id={client_id}", *args),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return out.stdout.strip().splitlines()[-1]


def run_one(
    kind: str, rnd: int, broker: Mosquitto, client_id: str, messages: int, prefix: str, decode: bool
) -> Result:
    extra = [f"--expect={messages}", f"--prefix={prefix}"] + (["--decode"] if decode else [])
    got = json.loads(_client(kind, broker, client_id, extra))
    redelivered = int(_client("check", broker, client_id, []))
    elapsed = got["last"] - got["connack"]
    per_s = got["count"] / elapsed if elapsed > 0 else 0.0
    return Result(kind, rnd, per_s, got["cpu_s"], got["max_rss_mb"], redelivered, got["count"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--decode", action="store_true", help="also decode each message")
    parser.add_argument("--only", nargs="*", default=list(CANDIDATES), choices=CANDIDATES)
    args = parser.parse_args(argv)
    messages = min(args.messages, 200_000)
    workdir = Path(tempfile.mkdtemp(prefix="greenpulse-mqtt-codec-"))
    print(f"start: {load_average()}")
    broker = start_mosquitto(data_dir=workdir / "mosquitto")
    prefix = f"codec-{uuid.uuid4().hex[:6]}"
    topics = [f"{prefix}/+/+/reading"]
    try:
        rounds = range(args.rounds)
        ids = {(kind, rnd): f"{prefix}-{kind}-{rnd}" for rnd in rounds for kind in args.only}
        for client_id in ids.values():
            asyncio.run(create_session(broker.port, client_id, topics))
        end = datetime.now(UTC).replace(second=0, microsecond=0)
        out = subprocess.run(
            [
                *(sys.executable, "-m", "bench.ingest.publish", f"--port={broker.port}"),
                *(f"--prefix={prefix}", f"--count={messages}", f"--end={end.isoformat()}"),
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
        print(f"{out.stdout.strip()} to {len(ids)} sessions; {load_average()}")
        results: list[Result] = []
        for rnd in range(args.rounds):
            print(f"round {rnd + 1}: {load_average()}")
            for kind in args.only:
                r = run_one(kind, rnd, broker, ids[(kind, rnd)], messages, prefix, args.decode)
                results.append(r)
                print(
                    f"  {kind:<13}{r.per_s:9.0f} msg/s  CPU {r.cpu_s:6.2f} s "
                    f"({r.cpu_s / r.count * 1e6:5.1f} us/msg)  max RSS {r.rss_mb:4.0f} MB  "
                    f"redelivered {r.redelivered}"
                )
            ref = next((r for r in results if r.round == rnd and r.kind == REFERENCE), None)
            if ref is not None:
                for r in results:
                    if r.round == rnd:
                        print(
                            f"    {r.kind:<13} x{r.per_s / ref.per_s:5.2f} msg/s, "
                            f"x{r.cpu_s / ref.cpu_s:5.2f} CPU vs {REFERENCE}"
                        )
        print(f"end: {load_average()}")
        return 0
    finally:
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
