"""A steady plant: every meter of a site reports once a second, each reading a probe.

Run as its own process (``python -m bench.live.publish``) so publishing does not
take the CPU of what is measured. Every reading is stamped with the wall clock
at the moment it is handed to the MQTT client, in microseconds, strictly
increasing over the whole run (so each probe's time is unique); cumulative
registers rise with time (so each value is unique too). Optionally a background
load of gateway batches (``--background`` readings/s over the same meters) goes
out on the same connection, so the broker delivers everything in one order.

The probe times (µs since the epoch) are written one per line to ``--log``.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from app.domain.plant import Meter
from app.domain.registers import RegisterKind
from app.mqtt import batch_topic, reading_topic
from app.plant.file import load_plant

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BATCH = 100  # readings per background gateway message


@dataclass
class _Register:
    """One simulated meter: a value that rises (or varies) with time."""

    meter: Meter
    per_s: float  # raw units per second
    last_us: int = 0
    base_us: int = 0

    def value(self, t_us: int) -> float:
        kind = self.meter.register_kind
        if kind is RegisterKind.CUMULATIVE:
            return 1000.0 + self.per_s * (t_us - self.base_us) / 1e6
        if kind is RegisterKind.INTERVAL:
            return self.per_s * max(t_us - (self.last_us or t_us - 1_000_000), 1) / 1e6
        return 10.0 + (t_us // 1_000_000) % 7 + (t_us % 1000) / 1e4  # kW, m3/h...


def registers(site_id: str, start_us: int) -> list[_Register]:
    """The site's meters, each running at a fifth of its plausible rate (no jump events)."""
    site = load_plant().site(site_id)
    out = []
    for meter in site.meters:
        rate_h = (meter.plausible_rate_per_hour() or 100.0) * 0.2
        out.append(_Register(meter, rate_h / 3600 / meter.multiplier, base_us=start_us))
    return out


def iso(t_us: int) -> str:
    return (EPOCH + timedelta(microseconds=t_us)).isoformat()


class _Clock:
    """Wall-clock microseconds, strictly increasing."""

    def __init__(self) -> None:
        self.last = 0

    def __call__(self) -> int:
        self.last = max(time.time_ns() // 1000, self.last + 1)
        return self.last


def run(
    port: int,
    prefix: str,
    site_id: str,
    *,
    per_meter_hz: float,
    background: float,
    duration_s: float,
    log: Path | None,
    since_us: int | None = None,
) -> str:
    clock = _Clock()
    regs = registers(site_id, since_us or clock())
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"bench-live-pub-{time.time_ns()}",
        clean_session=True,
    )
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    acked = [0]
    lock = threading.Lock()

    def on_publish(_c: object, _u: object, _mid: int, _rc: object, _p: object) -> None:
        with lock:
            acked[0] += 1

    client.on_publish = on_publish
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    probes: list[int] = []
    sent = background_readings = 0
    try:
        started = time.monotonic()
        probe_step = 1.0 / (per_meter_hz * len(regs))
        batch_step = BATCH / background if background > 0 else float("inf")
        next_probe, next_batch = started, started + batch_step / 2
        k = j = 0
        while True:
            now = time.monotonic()
            if now - started >= duration_s:
                break
            due = min(next_probe, next_batch)
            if due > now:
                time.sleep(due - now)
            if next_probe <= next_batch:
                reg = regs[k % len(regs)]
                k += 1
                t_us = clock()
                body = {"ts": iso(t_us), "value": reg.value(t_us), "unit": reg.meter.unit}
                reg.last_us = t_us
                client.publish(
                    reading_topic(prefix, site_id, reg.meter.id), json.dumps(body).encode(), qos=1
                )
                probes.append(t_us)
                next_probe += probe_step
            else:
                items = []
                for _ in range(BATCH):
                    reg = regs[j % len(regs)]
                    j += 1
                    t_us = clock()
                    items.append(
                        {
                            "meter": reg.meter.id,
                            "ts": iso(t_us),
                            "value": reg.value(t_us),
                            "unit": reg.meter.unit,
                        }
                    )
                    reg.last_us = t_us
                body_b = {"gateway": "gw-bench-live", "readings": items}
                client.publish(
                    batch_topic(prefix, site_id, "gw-bench-live"),
                    json.dumps(body_b).encode(),
                    qos=1,
                )
                background_readings += BATCH
                next_batch += batch_step
            sent += 1
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with lock:
                if acked[0] >= sent:
                    break
            time.sleep(0.02)
    finally:
        client.disconnect()
        client.loop_stop()
    if log is not None:
        log.write_text("".join(f"{t}\n" for t in probes), encoding="utf-8")
    return (
        f"published {len(probes)} probe readings + {background_readings} background readings "
        f"in {sent} messages; {acked[0]} acknowledged by the broker"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--site", default="guian")
    parser.add_argument("--per-meter-hz", type=float, default=1.0)
    parser.add_argument("--background", type=float, default=0.0, help="readings/s in batches")
    parser.add_argument("--duration", type=float, required=True, help="seconds (max 600)")
    parser.add_argument("--log", type=Path, default=None)
    parser.add_argument(
        "--since",
        type=int,
        default=None,
        help="µs since the epoch where registers start (the same for every publisher of a run, "
        "so cumulative registers keep rising from one publisher process to the next)",
    )
    args = parser.parse_args(argv)
    print(
        run(
            args.port,
            args.prefix,
            args.site,
            per_meter_hz=args.per_meter_hz,
            background=args.background,
            duration_s=min(args.duration, 600.0),
            log=args.log,
            since_us=args.since,
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
