"""Fuzz the running ingester: a real process, broker and PostgreSQL, thousands of hostile
messages among good readings. It never exits, stores every good reading once, dead-letters
every bad message with a reason, acknowledges everything, and keeps its memory bounded.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import pytest

from app.plant.file import load_plant
from ingest.broker import Mosquitto, free_port
from ingest.decode import PlantIndex, decode
from ingest.hostile import hostile_message, hostile_sparkplug, mutations
from ingest.sparkplug import HostState, decode_sparkplug, mapping_for
from tests.ingest.conftest import Database, IngesterProcess

pytestmark = pytest.mark.mqtt

HOSTILE = 3000
GOOD = 1500
SEED = 20261201


def _messages(now: datetime) -> tuple[list[tuple[str, bytes]], set[tuple[str, datetime]], int]:
    """(messages in publishing order, the good readings' keys, dead letters expected)."""
    rng = random.Random(SEED)
    plant = load_plant()
    index = PlantIndex.from_plant(plant)
    # what the ingester's host makes of them (each hostile Sparkplug message is on an
    # edge node of its own, so the outcome does not depend on the order of arrival)
    host = HostState.create("fuzz", index, mapping_for(plant))

    def decoded(topic: str, payload: bytes) -> tuple[list[object], list[object]]:
        if topic.startswith("spBv1.0/"):
            out = decode_sparkplug(topic, payload, now, host)
            return list(out.readings), list(out.rejections)
        readings, rejections = decode(topic, payload, index, now)
        return list(readings), list(rejections)

    good: list[tuple[str, bytes]] = []
    keys: set[tuple[str, datetime]] = set()
    meters = ["el-comp-01", "el-office", "gas-boiler-01"]
    units = {"el-comp-01": "kWh", "el-office": "kWh", "gas-boiler-01": "m3"}
    start = now.replace(microsecond=0) - timedelta(hours=2)
    for i in range(GOOD):
        meter = meters[i % 3]
        ts = start + timedelta(seconds=3 * (i // 3))
        payload = f'{{"ts": "{ts.isoformat()}", "value": {1000 + i}, "unit": "{units[meter]}"}}'
        good.append((f"greenpulse/guian/{meter}/reading", payload.encode()))
        keys.add((meter, ts))
    template = good[0][1]
    mutated = mutations(rng, template)
    bad: list[tuple[str, bytes]] = []
    expected = 0
    while len(bad) < HOSTILE:
        pick = rng.random()
        if pick < 0.3:
            topic, payload = "greenpulse/guian/el-comp-01/reading", next(mutated)
        elif pick < 0.5:
            topic, payload = hostile_sparkplug(rng, len(bad))
        else:
            topic, payload = hostile_message(rng, "greenpulse", "guian", "el-comp-01")
        readings, rejections = decoded(topic, payload)
        if readings or not rejections:
            continue  # a mutation that is still a reading: not hostile
        bad.append((topic, payload))
        expected += len(rejections)
    bad += [("greenpulse/guian/el-comp-01/reading", b"x" * 300_000)] * 3  # over the limit
    expected += 3
    messages = good + bad
    rng.shuffle(messages)
    return messages, keys, expected


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def _publish(broker: Mosquitto, messages: list[tuple[str, bytes]]) -> None:
    quiet = logging.getLogger("gp-fuzz-pub")
    quiet.setLevel(logging.ERROR)  # paho warns of every publish in flight over 100
    async with aiomqtt.Client(
        "127.0.0.1", broker.port, identifier="gp-fuzz-pub", logger=quiet
    ) as client:
        for i in range(0, len(messages), 200):
            chunk = messages[i : i + 200]
            await asyncio.gather(*(client.publish(t, p, qos=1) for t, p in chunk))


def test_hostile_messages_never_stop_the_ingester(
    mosquitto: Mosquitto,
    make_database: Callable[[str], Database],
    ingester_factory: Callable[..., IngesterProcess],
    tmp_path: Path,
) -> None:
    db = make_database("postgresql")
    ingester = ingester_factory(
        db,
        mosquitto,
        client_id="gp-fuzz",
        ingest_metrics_port=str(free_port()),
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if ingester.metric("greenpulse_ingest_mqtt_connected") == 1:
                break
        except OSError:
            pass
        time.sleep(0.2)
    assert ingester.process is not None
    pid = ingester.process.pid
    baseline_kib = _rss_kib(pid)

    messages, keys, expected = _messages(datetime.now(UTC))
    started = time.monotonic()
    asyncio.run(_publish(mosquitto, messages))
    peak_kib = baseline_kib
    deadline = time.monotonic() + 60
    acked = 0.0
    while time.monotonic() < deadline:
        assert ingester.process.poll() is None, "the ingester exited:\n" + ingester.log()[-3000:]
        peak_kib = max(peak_kib, _rss_kib(pid))
        acked = ingester.metric("greenpulse_ingest_messages_acked_total")
        if acked >= len(messages):
            break
        time.sleep(0.25)
    elapsed = time.monotonic() - started
    assert acked == len(messages), f"{acked} of {len(messages)} acked in {elapsed:.0f} s"
    print(
        f"fuzz: {len(messages)} messages in {elapsed:.1f} s ({len(messages) / elapsed:.0f}/s), "
        f"RSS {baseline_kib // 1024} -> peak {peak_kib // 1024} MiB"
    )

    stored = db.reading_keys()
    assert len(stored) == len(keys), "every good reading stored exactly once"
    assert set(stored) == keys
    reasons = db.query("SELECT reason, count(*) FROM rejected_messages GROUP BY 1")
    by_reason = {str(r): int(str(n)) for r, n in reasons}
    assert sum(by_reason.values()) == expected
    assert not {"internal_error", "write_failed", "quarantined"} & by_reason.keys(), by_reason
    for reason, count in by_reason.items():  # every counter equals its table rows
        assert ingester.metric(f'greenpulse_ingest_rejected_total{{reason="{reason}"}}') == count
    assert ingester.metric("greenpulse_ingest_readings_written_total") == len(keys)
    # and the ingester's own live hints, received under the prefix and ignored
    ignored = ingester.metric("greenpulse_ingest_messages_ignored_total")
    assert ingester.metric("greenpulse_ingest_messages_received_total") == len(messages) + ignored
    assert ingester.metric("greenpulse_ingest_db_failing") == 0
    assert ingester.process.poll() is None
    assert (peak_kib - baseline_kib) < 200 * 1024, "memory bounded"
