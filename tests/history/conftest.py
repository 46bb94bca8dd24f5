"""Real readings through the BatchWriter on all three backends, and the API over them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.auth.tokens import Tokens
from app.commands.app import create_app
from app.config import Settings
from app.domain.plant import Plant
from app.plant.file import demo_plant_path, load_plant
from app.plant.sync import sync_plant
from ingest.decode import DecodedReading
from ingest.writer import BatchWriter
from tests.conftest import Backend

ZONE = ZoneInfo("Asia/Shanghai")
OVERRIDES = demo_plant_path().parent / "demo_factor_overrides.yaml"
# from local midnight 15 June 2026 (16:00 UTC on the 14th), 2.5 local days
START = datetime(2026, 6, 14, 16, 0, tzinfo=UTC)
HOURS = 60
STEP = timedelta(minutes=5)
NOW = START + timedelta(hours=HOURS, minutes=1)
TOKENS = Tokens("history-write-token", "history-read-token")
READ = {"Authorization": "Bearer history-read-token"}

# meter → quantity per 5 minutes as a function of the local hour (canonical units)
PROFILES = {
    "el-grid-in-1": lambda h: 500.0 + 20.0 * h,
    "el-grid-export": lambda h: 10.0 if 10 <= h < 15 else 0.0,
    "pv-inv-01": lambda h: 50.0 * max(0, 6 - abs(h - 12)),
    "el-comp-01": lambda h: 10.0 + h / 2,  # ≤ 275 kW (rated 355)
    "el-office": lambda h: 8.0 if 8 <= h < 18 else 2.0,
    "gas-boiler-01": lambda h: 3.0 + (h % 4),
    "water-main": lambda h: 1.5,
}


@dataclass(frozen=True)
class Fed:
    """What was written: the quantity of each interval ``(t - 5 min, t]`` per meter."""

    plant: Plant
    intervals: dict[str, list[tuple[datetime, float]]]

    def total(self, meter: str, start: datetime, end: datetime) -> float:
        """Quantity of intervals that end in ``(start, end]``."""
        return sum(q for t, q in self.intervals[meter] if start < t <= end)


def readings(plant: Plant) -> tuple[list[DecodedReading], dict[str, list[tuple[datetime, float]]]]:
    multiplier = {m.id: m.multiplier for _, m in plant.meters()}
    units = {m.id: m.unit for _, m in plant.meters()}
    out: list[DecodedReading] = []
    intervals: dict[str, list[tuple[datetime, float]]] = {m: [] for m in PROFILES}
    for meter, profile in PROFILES.items():
        register = 1000.0
        out.append(DecodedReading.at("guian", meter, START, register, units[meter]))
        t = START
        while t < START + timedelta(hours=HOURS):
            hour = (t.astimezone(ZONE)).hour
            t += STEP
            quantity = profile(hour)
            register += quantity / multiplier[meter]
            out.append(DecodedReading.at("guian", meter, t, register, units[meter]))
            intervals[meter].append((t, quantity))
    return out, intervals


@pytest.fixture
def fed(clean_backend: Backend) -> Fed:
    plant = load_plant()
    sync_plant(clean_backend.factory, plant)
    batch, intervals = readings(plant)
    writer = BatchWriter(clean_backend.factory, plant, clean_backend.storage)
    for i in range(0, len(batch), 2000):
        writer.write(batch[i : i + 2000], [], now=NOW)
    return Fed(plant, intervals)


@pytest.fixture
async def client(clean_backend: Backend, fed: Fed) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=clean_backend.url, factor_file=OVERRIDES, mqtt_url="mqtt://127.0.0.1:1"
    )
    app = create_app(settings, plant=fed.plant, tokens=TOKENS, clock=lambda: NOW)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gp") as http:
            yield http
