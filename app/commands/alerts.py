"""``greenpulse alerts``: the alert engine until a signal, its counters on ``/metrics``."""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import start_http_server

from app.alerts.engine import AlertEngine
from app.commands.runtime import open_database
from app.config import Settings
from app.plant.file import load_plant

log = logging.getLogger(__name__)


async def run_alerts(
    settings: Settings, stop: asyncio.Event, *, metrics_port: int | None = None
) -> None:
    """Evaluate, publish and deliver until ``stop`` is set.

    Several engines may run at once: the database keeps one open alert per condition
    and each webhook delivery is claimed by one engine.
    """
    plant = load_plant(settings.plant_file)
    with open_database(settings) as db:
        engine = AlertEngine(db.sessions, plant, settings)
        if metrics_port is not None:
            start_http_server(metrics_port, addr=settings.host, registry=engine.registry)
            log.info("alert engine metrics on %s:%d/metrics", settings.host, metrics_port)
        await engine.run(stop)
