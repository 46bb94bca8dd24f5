"""A small plant, real readings through the BatchWriter, and the API around them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import yaml

from app.auth.tokens import Tokens
from app.carbon.catalogue import load_catalogue
from app.commands.app import create_app
from app.config import Settings
from app.domain.plant import Plant
from app.plant.file import parse_plant
from app.plant.sync import sync_plant
from ingest.decode import DecodedReading
from ingest.writer import BatchWriter
from tests.conftest import Backend

TOKENS = Tokens("write-token-for-tests", "read-token-for-tests")
READ = {"Authorization": "Bearer read-token-for-tests"}
WRITE = {"Authorization": "Bearer write-token-for-tests"}


def meter(mid: str, area: str, resource: str, unit: str = "kWh") -> dict[str, Any]:
    return {
        "id": mid,
        "name": mid,
        "area": area,
        "resource": resource,
        "register": "cumulative",
        "unit": unit,
        "expected_interval_s": 60,
    }


def plant_of(
    *,
    timezone: str = "Asia/Shanghai",
    country: str = "CN",
    grid_region: str | None = "CN-CSG",
    province: str | None = "CN-GZ",
    areas: Sequence[dict[str, Any]] = ({"id": "main", "name": "main"},),
    meters: Sequence[dict[str, Any]] = (),
    certificates: Sequence[dict[str, Any]] = (),
) -> Plant:
    """A one-site plant ``s1`` with a grid import meter ``grid`` besides ``meters``."""
    site: dict[str, Any] = {
        "id": "s1",
        "name": "test site",
        "timezone": timezone,
        "latitude": 26.4,
        "longitude": 106.5,
        "country": country,
        "areas": [{"id": "substation", "name": "substation"}, *areas],
        "meters": [meter("grid", "substation", "electricity_import"), *meters],
        "green_certificates": list(certificates),
    }
    if grid_region:
        site["grid_region"] = grid_region
    if province:
        site["province"] = province
    return parse_plant(yaml.safe_dump({"name": "test plant", "sites": [site]}))


def register(
    plant: Plant, meter_id: str, points: Sequence[tuple[datetime, float]]
) -> list[DecodedReading]:
    """Cumulative register readings (first point: the starting value)."""
    unit = next(m.unit for _, m in plant.meters() if m.id == meter_id)
    site = next(s.id for s, m in plant.meters() if m.id == meter_id)
    return [DecodedReading.at(site, meter_id, t, v, unit) for t, v in points]


def write(backend: Backend, plant: Plant, readings: list[DecodedReading], now: datetime) -> None:
    sync_plant(backend.factory, plant)
    BatchWriter(backend.factory, plant, backend.storage).write(readings, [], now=now)


def factor(factor_id: str) -> Decimal:
    """A catalogue factor's kg per unit, as the figures use it (shortest decimal)."""
    return Decimal(repr(load_catalogue().get(factor_id).kg_per_unit))


@asynccontextmanager
async def api(
    backend: Backend,
    plant: Plant,
    clock: Callable[[], datetime],
    factor_file: Path | None = None,
) -> AsyncIterator[httpx.AsyncClient]:
    sync_plant(backend.factory, plant)
    settings = Settings(
        database_url=backend.url, factor_file=factor_file, mqtt_url="mqtt://127.0.0.1:1"
    )
    app = create_app(settings, plant=plant, tokens=TOKENS, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gp") as http:
            yield http


def approx_dec(value: float, expected: Decimal, tol: str = "0.000001") -> bool:
    return abs(Decimal(repr(value)) - expected) <= Decimal(tol)
