"""Helpers for the alert end-to-end tests (tests/e2e/test_alerts_e2e.py).

* a pre-loaded history: three weeks of the demo plant written with the real
  ``BatchWriter``, so the hour-of-week baselines exist before the live part starts;
* a live publisher pacing a ``PlantSimulator`` to the shared simulated clock over MQTT;
* a loopback webhook receiver and a "late subscriber" probe for the retained alert topic.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

import aiomqtt
from sqlalchemy import delete, func, select

from app.config import Settings
from app.db.models import MeterEventRow, MeterStateRow
from app.domain.plant import Plant
from app.domain.registers import RegisterKind
from app.plant.sync import sync_plant
from app.schema import Base
from ingest.decode import DecodedReading, PlantIndex, decode
from ingest.writer import BatchWriter
from simulator import PlantSimulator, SimOptions, SimReading
from simulator.publish import messages, new_client, publish_readings
from tests.conftest import Backend

SITE: Final = "guian"
T0: Final = datetime(2026, 6, 16, 2, 0, tzinfo=UTC)
"""Tuesday 16 June 2026, 10:00 in Gui'an: a working morning, and where the live part starts."""
SEED: Final = 11
HISTORY: Final = timedelta(days=22)
"""Three weeks fill every hour-of-week bucket (the baseline needs 3 samples); the extra
day keeps the first, partial hour of history out of the buckets the tests judge."""

HISTORY_INTERVAL_S: Final = 900.0
"""Reading interval of cumulative and interval registers in the pre-loaded history."""
HISTORY_INSTANT_INTERVAL_S: Final = 300.0
"""...and of instantaneous (kW) meters, whose power is integrated between readings."""


# --- pre-loaded history -------------------------------------------------------------------------


def history_plant(plant: Plant) -> Plant:
    """The plant with longer reading intervals, for generating and writing history only.

    Publishing three weeks of 41 meters through MQTT would take minutes, and even
    generating them at the meters' own one-minute intervals costs ~1 s per simulated
    day. The baseline reads only hourly rollups, which a reading every 15 minutes
    (5 for kW meters) gives as well: a cumulative register's value does not depend on
    how often it is read, and the writer spreads each interval over the hours it spans.
    The physics (tick, profiles, weather, seed) are the live simulator's.
    """
    sites = []
    for site in plant.sites:
        meters = []
        for meter in site.meters:
            slow = (
                HISTORY_INSTANT_INTERVAL_S
                if meter.register_kind is RegisterKind.INSTANTANEOUS
                else HISTORY_INTERVAL_S
            )
            interval = max(meter.expected_interval_s, slow)
            meters.append(meter.model_copy(update={"expected_interval_s": interval}))
        sites.append(site.model_copy(update={"meters": tuple(meters)}))
    return plant.model_copy(update={"sites": tuple(sites)})


def decoded(
    readings: Iterable[SimReading], index: PlantIndex, now: datetime, prefix: str = "greenpulse"
) -> list[DecodedReading]:
    """The readings as the ingester decodes them: the real payloads through the real decoder."""
    out: list[DecodedReading] = []
    for topic, payload in messages(readings, prefix=prefix, batch_size=1000):
        good, rejected = decode(topic, payload, index, now, prefix=prefix)
        assert not rejected, rejected[:3]
        out += good
    return out


def history_readings(plant: Plant, end: datetime = T0) -> list[DecodedReading]:
    """``HISTORY`` of the demo plant up to ``end``, decoded, at the history intervals."""
    coarse = history_plant(plant)
    sim = PlantSimulator(coarse, seed=SEED, start=end - HISTORY, options=SimOptions.clean())
    return decoded(sim.advance(end), PlantIndex.from_plant(plant), end)


def wipe(backend: Backend) -> None:
    """Empty every table (the session's database may hold another test's leftovers)."""
    with backend.factory() as session, session.begin():
        for table in reversed(Base.metadata.sorted_tables):
            if table.name != "alembic_version":
                session.execute(table.delete())


def preload_history(backend: Backend, plant: Plant, history: list[DecodedReading]) -> None:
    """Write the history with the real ``BatchWriter``, then forget the meters' registers.

    The live simulator is a fresh one starting at ``T0``: its cumulative registers
    start from their initial values, not where the history's ended. Left in
    ``meter_state``, the history's last values would make the first live reading a
    register reset on every meter (events, estimated quantities, informational alerts).
    Without them the writer takes it as a meter's first reading, exactly as it does for
    a meter it has never seen; the history's readings and rollups stay where they are.
    """
    writer = BatchWriter(backend.factory, history_plant(plant), backend.storage)
    for start in range(0, len(history), 20_000):
        writer.write(history[start : start + 20_000], [], now=T0)
    with backend.factory() as session, session.begin():
        events = session.scalar(select(func.count()).select_from(MeterEventRow))
        assert events == 0, f"the clean history should raise no register events, got {events}"
        session.execute(delete(MeterStateRow))


def prepare(backend: Backend, plant: Plant, history: list[DecodedReading] | None) -> None:
    """An empty database with the plant synced and (optionally) the history pre-loaded."""
    wipe(backend)
    sync_plant(backend.factory, plant)
    if history is not None:
        preload_history(backend, plant, history)


# --- live publishing ----------------------------------------------------------------------------


@dataclass
class LivePublisher:
    """Publishes a simulator's readings over MQTT (QoS 1) as the shared clock advances.

    ``sent[meter_id]`` records, per reading time, the monotonic time its PUBACK came
    back (the wall-clock moment the reading was in the broker's hands).
    """

    settings: Settings
    sim: PlantSimulator
    clock: Callable[[], datetime]
    step_s: float = 0.05
    sent: dict[str, dict[datetime, float]] = field(default_factory=dict)
    readings: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        prefix = self.settings.mqtt_topic_prefix
        async with new_client(self.settings, role="e2e-sim") as client:
            while not stop.is_set():
                batch = self.sim.advance(max(self.sim.now, self.clock()))
                if batch:
                    await publish_readings(client, batch, prefix=prefix)
                    acked = time.monotonic()
                    for reading in batch:
                        self.sent.setdefault(reading.meter_id, {})[reading.time] = acked
                    self.readings += len(batch)
                await asyncio.sleep(self.step_s)


# --- delivery probes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    at: float  # monotonic

    @property
    def payload(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 recording every POST (answers 200)."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def find(self, event: str, condition_key: str) -> list[Received]:
        with self.lock:
            return [
                r
                for r in self.requests
                if r.payload.get("event") == event
                and r.payload.get("alert", {}).get("condition_key") == condition_key
            ]


@contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    state = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with state.lock:
                state.requests.append(Received(dict(self.headers.items()), body, time.monotonic()))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/greenpulse"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def signed_by(request: Received, secret: str) -> bool:
    """What a receiver does (docs/alerts.md): HMAC-SHA256 over the raw body, constant-time."""
    expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, request.headers.get("X-GreenPulse-Signature", ""))


async def late_subscriber(host: str, port: int, topic: str, timeout_s: float = 5.0) -> Any:
    """Connect now, subscribe, and return the first message (the retained one, if any)."""
    identifier = f"gp-e2e-late-{uuid.uuid4().hex[:8]}"
    async with aiomqtt.Client(hostname=host, port=port, identifier=identifier) as client:
        await client.subscribe(topic, qos=1)
        async with asyncio.timeout(timeout_s):
            return await anext(aiter(client.messages))


async def eventually(done: Callable[[], bool], within_s: float, what: str) -> float:
    """Poll ``done`` every 20 ms for at most ``within_s``; returns the monotonic time it held."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if done():
            return time.monotonic()
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {within_s:.0f} s waiting for {what}")
