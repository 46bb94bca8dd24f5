"""Decode throughput: Sparkplug B DDATA beside JSON gateway batches of the same readings.

    .venv/bin/python -m bench.ingest.sparkplug_decode [--readings 200000] [--per-message 100]

Pure decode in one process, no broker or database: the demo plant's meters as one
Sparkplug device (aliases from a DBIRTH) and as one JSON gateway, the same readings
(same meters, times and values) in messages of ``--per-message`` readings. Each
format is decoded ``--repeat`` times from freshly built state; the best run counts.
The load average is printed before and after (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from app.plant.file import load_plant
from ingest.decode import PlantIndex, decode
from ingest.sparkplug import HostState, decode_sparkplug, parse_mapping
from ingest.sparkplug.proto import DataType, Payload

GROUP, NODE, DEVICE = "bench", "gw-1", "all-meters"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _readings(count: int) -> list[tuple[str, str, int, float]]:
    """``(meter, unit, time_ms, value)``: every meter once a minute, registers rising."""
    meters = [(m.id, m.unit) for _, m in load_plant().meters()]
    out = []
    for i in range(count):
        meter_id, unit = meters[i % len(meters)]
        step = i // len(meters)
        out.append((meter_id, unit, int(T0.timestamp() * 1000) + 60_000 * step, 1000.0 + step))
    return out


def _json_messages(readings: list[tuple[str, str, int, float]], per: int) -> list[bytes]:
    return [
        json.dumps(
            {
                "gateway": NODE,
                "readings": [
                    {"meter": m, "ts": t, "value": v, "unit": u}
                    for m, u, t, v in readings[i : i + per]
                ],
            },
            separators=(",", ":"),
        ).encode()
        for i in range(0, len(readings), per)
    ]


def _sparkplug_messages(
    readings: list[tuple[str, str, int, float]], per: int, alias: dict[str, int]
) -> list[bytes]:
    out = []
    for seq, i in enumerate(range(0, len(readings), per), start=2):
        payload = Payload(timestamp=readings[i][2], seq=seq % 256)
        for meter_id, _, time_ms, value in readings[i : i + per]:
            metric = payload.metrics.add()
            metric.alias = alias[meter_id]
            metric.timestamp = time_ms
            metric.double_value = value
        out.append(payload.SerializeToString())
    return out


def _births(alias: dict[str, int]) -> tuple[bytes, bytes]:
    node = Payload(timestamp=int(T0.timestamp() * 1000), seq=0)
    bdseq = node.metrics.add()
    bdseq.name, bdseq.datatype, bdseq.long_value = "bdSeq", DataType.INT64, 0
    device = Payload(timestamp=int(T0.timestamp() * 1000), seq=1)
    for meter_id, number in alias.items():
        metric = device.metrics.add()
        metric.name, metric.alias, metric.datatype = meter_id, number, DataType.DOUBLE
        metric.is_null = True
    return node.SerializeToString(), device.SerializeToString()


def _best(repeat: int, run: Callable[[], int]) -> tuple[float, int]:
    best = float("inf")
    decoded = 0
    for _ in range(repeat):
        began = time.perf_counter()
        decoded = run()
        best = min(best, time.perf_counter() - began)
    return best, decoded


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--per-message", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    plant = load_plant()
    index = PlantIndex.from_plant(plant)
    meters = [m.id for _, m in plant.meters()]
    alias = {meter_id: number for number, meter_id in enumerate(meters, start=1)}
    site = plant.sites[0].id
    mapping = parse_mapping(
        plant,
        {
            site: [
                {
                    "group": GROUP,
                    "edge_node": NODE,
                    "device": DEVICE,
                    "metrics": {m: m for m in meters},
                }
            ]
        },
    )
    readings = _readings(args.readings)
    now = datetime.fromtimestamp(readings[-1][2] / 1000, UTC) + timedelta(minutes=1)
    json_msgs = _json_messages(readings, args.per_message)
    spb_msgs = _sparkplug_messages(readings, args.per_message, alias)
    nbirth, dbirth = _births(alias)
    json_topic = f"greenpulse/{site}/gateway/{NODE}/batch"
    spb_topic = f"spBv1.0/{GROUP}/DDATA/{NODE}/{DEVICE}"

    def run_json() -> int:
        return sum(len(decode(json_topic, p, index, now)[0]) for p in json_msgs)

    def run_sparkplug() -> int:
        state = HostState.create("bench-host", index, mapping)
        decode_sparkplug(f"spBv1.0/{GROUP}/NBIRTH/{NODE}", nbirth, now, state)
        decode_sparkplug(f"spBv1.0/{GROUP}/DBIRTH/{NODE}/{DEVICE}", dbirth, now, state)
        total = 0
        for payload in spb_msgs:
            out = decode_sparkplug(spb_topic, payload, now, state)
            assert not out.rejections and not out.commands, out.rejections[:1]
            total += len(out.readings)
        return total

    load_before = os.getloadavg()
    results: dict[str, Any] = {}
    for name, run, msgs in (
        ("json_batch", run_json, json_msgs),
        ("sparkplug_ddata", run_sparkplug, spb_msgs),
    ):
        seconds, decoded = _best(args.repeat, run)
        if decoded != len(readings):
            raise SystemExit(f"{name}: decoded {decoded} of {len(readings)} readings")
        results[name] = {
            "readings_per_s": round(decoded / seconds),
            "messages_per_s": round(len(msgs) / seconds),
            "bytes_per_reading": round(sum(map(len, msgs)) / decoded, 1),
            "seconds": round(seconds, 3),
        }
    load_after = os.getloadavg()
    print(
        json.dumps(
            {
                "readings": len(readings),
                "per_message": args.per_message,
                "cpus": os.cpu_count(),
                "loadavg_before": [round(x, 2) for x in load_before],
                "loadavg_after": [round(x, 2) for x in load_after],
                **results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
