"""Two API replicas (real ``greenpulse serve`` processes) read while two writers write.

Figures come from the database, never from a process's memory: whichever replica a
screen asks, it reads the same numbers once the writers' commits are visible to both.
The test samples both replicas continuously while two ``BatchWriter`` threads (two
ingesters sharing a subscription) commit one meter's interleaved readings, and checks
every sample taken with no commit in flight against the other replica and against the
register readings committed so far.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.plant.file import load_plant
from app.plant.sync import sync_plant
from ingest.broker import free_port
from ingest.decode import DecodedReading
from ingest.writer import BatchWriter
from tests.conftest import Backend

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("backend", ["postgresql", "timescaledb"], indirect=True),
]

READ_TOKEN = "read-token-replicas"
READ = {"Authorization": f"Bearer {READ_TOKEN}"}
PLANT = load_plant()
METERS = {"pv-inv-01": 1.0, "el-grid-in-1": 2000.0}  # meter -> multiplier (CT ratio)
READINGS_PER_METER = 160


@dataclass
class Replica:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@pytest.fixture
def replicas(clean_backend: Backend, tmp_path: Path) -> Iterator[list[Replica]]:
    """Two ``greenpulse serve`` processes over the test's database, stopped after."""
    sync_plant(clean_backend.factory, PLANT)
    serve = Path(sys.executable).with_name("greenpulse")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENPULSE_")} | {
        "GREENPULSE_DATABASE_URL": clean_backend.url,
        "GREENPULSE_API_TOKEN": "write-token-replicas",
        "GREENPULSE_READ_TOKEN": READ_TOKEN,
        "GREENPULSE_MQTT_URL": "mqtt://127.0.0.1:1",  # no new-data hints: reads only
        "GREENPULSE_LOG_LEVEL": "WARNING",
    }
    started: list[Replica] = []
    try:
        for n in range(2):
            port = free_port()
            log = tmp_path / f"serve-{n}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [str(serve), "serve", "--host", "127.0.0.1", "--port", str(port)],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            started.append(Replica(f"http://127.0.0.1:{port}", process, log))
        for replica in started:
            _wait_ready(replica)
        yield started
    finally:
        for replica in started:
            replica.process.terminate()
        for replica in started:
            try:
                replica.process.wait(15)
            except subprocess.TimeoutExpired:
                replica.process.kill()
                replica.process.wait(5)


def _wait_ready(replica: Replica, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if replica.process.poll() is not None:
            raise AssertionError(f"greenpulse serve exited: {replica.log.read_text()}")
        try:
            if httpx.get(f"{replica.url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"greenpulse serve not ready in {timeout_s} s: {replica.log.read_text()}")


@dataclass
class Commits:
    """What the writers have committed, and whether a commit is under way."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    pause: threading.Lock = field(default_factory=threading.Lock)
    """Held by the sampler to have the writers start no new commit for a moment."""
    started: int = 0
    ended: int = 0
    readings: list[DecodedReading] = field(default_factory=list)

    def snapshot(self) -> tuple[int, int, list[DecodedReading]]:
        with self.lock:
            return self.started, self.ended, list(self.readings)


def _series(now: datetime) -> list[DecodedReading]:
    """Both meters' register readings, ten seconds apart, ending a few minutes ago."""
    rng = random.Random(19)
    start = now - timedelta(seconds=10 * READINGS_PER_METER + 300)
    out = []
    for meter in METERS:
        value = rng.uniform(1000, 2000)
        for i in range(READINGS_PER_METER):
            value += rng.uniform(0.0, 0.01) if meter.startswith("el-") else rng.uniform(0, 2)
            time_ = start + timedelta(seconds=10 * i)
            out.append(DecodedReading.at("guian", meter, time_, round(value, 4), "kWh", None))
    out.sort(key=lambda r: r.time)
    return out


def _write(writer: BatchWriter, part: list[DecodedReading], commits: Commits, seed: int) -> None:
    rng = random.Random(seed)
    for i in range(0, len(part), 4):
        batch = part[i : i + 4]
        with commits.pause, commits.lock:
            commits.started += 1
        try:
            writer.write(batch, [], now=datetime.now(UTC))
        finally:
            with commits.lock:
                commits.ended += 1
                commits.readings += batch
        time.sleep(rng.uniform(0.0, 0.05))


def _expected_year(committed: list[DecodedReading]) -> dict[str, float]:
    """Energy of the committed readings: a register's last value less its first."""
    energy = {}
    for meter, multiplier in METERS.items():
        values = [
            r.raw_value for r in sorted(committed, key=lambda r: r.time) if r.meter_id == meter
        ]
        energy[meter] = (values[-1] - values[0]) * multiplier if len(values) > 1 else 0.0
    return {"pv_kwh": energy["pv-inv-01"], "grid_import_kwh": energy["el-grid-in-1"]}


def _figures(client: httpx.Client, replica: Replica) -> dict[str, Any]:
    response = client.get(f"{replica.url}/api/v1/sites/guian/figures", headers=READ)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _compared(figures: dict[str, Any]) -> dict[str, Any]:
    """What two replicas must agree on: each period's energy and CO2, the newest reading."""
    return {
        "periods": {
            name: (period["energy"], period["co2"]) for name, period in figures["periods"].items()
        },
        "newest": figures["freshness"]["newest_reading_at"],
    }


def test_two_replicas_agree_at_every_sample_while_two_writers_write(
    clean_backend: Backend, replicas: list[Replica]
) -> None:
    series = _series(datetime.now(UTC))
    commits = Commits()
    writers = [BatchWriter(clean_backend.factory, PLANT, clean_backend.storage) for _ in range(2)]
    threads = [
        threading.Thread(target=_write, args=(w, series[i::2], commits, i), name=f"writer-{i}")
        for i, w in enumerate(writers)
    ]
    settled: list[tuple[dict[str, Any], dict[str, Any], list[DecodedReading]]] = []
    in_flight = 0
    with httpx.Client(timeout=10) as client, ThreadPoolExecutor(2) as pool:

        def sample() -> bool:
            """Both replicas at once; True (and kept) when no commit ran meanwhile."""
            started, ended, committed = commits.snapshot()
            a, b = pool.map(lambda r: _figures(client, r), replicas)
            if started == ended == commits.snapshot()[0]:
                settled.append((a, b, committed))
                return True
            return False

        def between_commits() -> bool:
            """A sample once the commits under way have ended, none starting meanwhile."""
            with commits.pause:
                while (snapshot := commits.snapshot())[0] != snapshot[1]:
                    time.sleep(0.005)
                return sample()

        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            in_flight += not sample()  # while the writers write
            between_commits()
        for t in threads:
            t.join(60)
        during = len(settled)
        for _ in range(3):  # and once every commit has ended
            assert sample()

    assert commits.ended == commits.started == 2 * (len(series) // 2 // 4)
    assert in_flight > 0, "no sample overlapped a commit: nothing ran at the same time"
    assert during >= 5, f"only {during} samples between commits while the writers wrote"
    grew = set()
    for a, b, committed in settled:
        if a["periods"]["hour"]["start"] != b["periods"]["hour"]["start"]:
            continue  # the two requests straddled the top of an hour
        assert _compared(a) == _compared(b)
        expected = _expected_year(committed)
        for key, value in expected.items():
            assert a["periods"]["year"]["energy"][key] == pytest.approx(value, abs=1e-6)
        grew.add(round(expected["pv_kwh"], 6))
    assert len(grew) >= 3, "the samples did not see the figures move"
    final = settled[-1][0]["periods"]["year"]["energy"]
    assert final == settled[-1][1]["periods"]["year"]["energy"]
    assert final["pv_kwh"] == pytest.approx(_expected_year(series)["pv_kwh"])
