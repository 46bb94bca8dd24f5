"""``greenpulse demo``: the whole plant on one machine, nothing to install beyond the package.

An embedded MQTT broker, an SQLite file, the simulator, the ingester, the alert engine and
the API run in one process. Time is simulated: at ``speed`` 60 an hour of plant life
passes every minute, and every part (simulator, ingester, figures, alerts) reads the same
simulated clock, so "this hour" on the wall screen is the simulated hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvicorn
from amqtt.broker import Broker

from app.alerts.engine import AlertEngine
from app.auth.tokens import Tokens, resolve_tokens
from app.commands.app import create_app
from app.commands.runtime import Database, open_database, stop_on_signals
from app.config import Settings
from app.db import migrate
from app.plant.file import demo_plant_path, load_plant
from app.plant.sync import sync_plant

log = logging.getLogger(__name__)

DEMO_DATABASE = "greenpulse-demo.db"


@dataclass(frozen=True)
class SimClock:
    """Simulated time: ``origin`` at ``started`` (monotonic), running ``speed`` times faster."""

    origin: datetime
    started: float
    speed: float

    def __call__(self) -> datetime:
        return self.origin + timedelta(seconds=(time.monotonic() - self.started) * self.speed)


@dataclass(frozen=True)
class DemoOptions:
    port: int = 8000
    mqtt_port: int = 18830
    speed: float = 60.0
    backfill_hours: float = 24.0
    seed: int = 1
    duration_s: float | None = None
    database_url: str | None = None


def _fresh_database() -> None:
    """A fresh plant every run: simulated time starts now."""
    for suffix in ("", "-wal", "-shm"):
        Path(DEMO_DATABASE + suffix).unlink(missing_ok=True)


def _broker_config(port: int) -> dict[str, object]:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {
            "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
        },
    }


async def run_demo(options: DemoOptions, *, announce: bool = True) -> None:
    """Run until Ctrl-C (or ``duration_s``), then stop every part cleanly."""
    with open_database(_settings(options)) as db:
        await _run(options, db, announce=announce)


def _settings(options: DemoOptions) -> Settings:
    return Settings(
        database_url=options.database_url or f"sqlite:///{DEMO_DATABASE}",
        mqtt_url=f"mqtt://127.0.0.1:{options.mqtt_port}",
        mqtt_client_id="greenpulse-demo-ingest",
        plant_file=demo_plant_path(),
        factor_file=demo_plant_path().parent / "demo_factor_overrides.yaml",
        port=options.port,
    )


async def _run(options: DemoOptions, db: Database, *, announce: bool) -> None:
    # the simulator and the ingester are loaded by this command only
    from ingest.service import Ingester, IngestOptions
    from ingest.writer import BatchWriter
    from simulator.options import SimOptions
    from simulator.publish import run as run_simulator

    if options.database_url is None:
        await asyncio.to_thread(_fresh_database)
    settings = _settings(options)
    plant = load_plant(settings.plant_file)
    tokens, _ = resolve_tokens(settings)
    clock = SimClock(datetime.now(UTC), time.monotonic(), options.speed)

    storage = await asyncio.to_thread(migrate.upgrade, db.engine)
    factory = db.sessions
    await asyncio.to_thread(sync_plant, factory, plant)

    broker = Broker(_broker_config(options.mqtt_port))
    await broker.start()
    stop = asyncio.Event()
    stop_on_signals(stop)

    app = create_app(settings, plant=plant, tokens=tokens, clock=clock)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=options.port, log_level="warning")
    )
    ingester = Ingester(
        settings,
        plant,
        BatchWriter(factory, plant, storage),
        IngestOptions(mqtt_v5=False, summary_interval_s=60.0),
        clock=clock,
    )
    alerts = AlertEngine(factory, plant, settings, clock=clock)

    async def announce_when_listening() -> None:
        while not server.started:  # noqa: ASYNC110 (uvicorn offers no event for it)
            await asyncio.sleep(0.05)
        if announce:
            _announce(options, tokens, storage.reason)

    async def stop_server_when_asked() -> None:
        await stop.wait()
        server.should_exit = True

    async def stop_after(duration_s: float) -> None:
        await asyncio.sleep(duration_s)
        stop.set()

    tasks = [
        asyncio.create_task(ingester.run(stop), name="ingester"),
        asyncio.create_task(alerts.run(stop), name="alerts"),
        asyncio.create_task(
            run_simulator(
                settings,
                plant,
                speed=options.speed,
                backfill_days=options.backfill_hours / 24,
                seed=options.seed,
                options=SimOptions.realistic(),
                stop=stop,
                batch_size=50,
                now=clock.origin,
            ),
            name="simulator",
        ),
        asyncio.create_task(server.serve(), name="api"),
        asyncio.create_task(stop_server_when_asked(), name="stopper"),
        asyncio.create_task(announce_when_listening(), name="announce"),
    ]
    for task in tasks:
        if task.get_name() in {"ingester", "alerts", "api"}:
            # if a core part ends (a port already in use, say), stop the whole demo
            task.add_done_callback(lambda _: stop.set())
    if options.duration_s is not None:
        tasks.append(asyncio.create_task(stop_after(options.duration_s), name="timer"))
    try:
        await stop.wait()
    finally:
        stop.set()
        server.should_exit = True
        done, pending = await asyncio.wait(tasks, timeout=20)
        for task in pending:
            task.cancel()
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.error("demo: %s failed: %r", task.get_name(), task.exception())
        if not server.started:
            print(f"GreenPulse demo could not serve on port {options.port}.", flush=True)
        with contextlib.suppress(Exception):
            await broker.shutdown()
        if announce:
            print("GreenPulse demo stopped.", flush=True)


def _announce(options: DemoOptions, tokens: Tokens, storage: str) -> None:
    base = f"http://127.0.0.1:{options.port}"
    print(
        "\n".join(
            [
                "GreenPulse demo: Gui'an battery plant (41 meters, 19.47 MW rooftop PV)",
                f"  storage:     {storage}",
                f"  MQTT broker: mqtt://127.0.0.1:{options.mqtt_port} (embedded)",
                f"  time:        simulated, {options.speed:g}x real time, "
                f"{options.backfill_hours:g} h of history first",
                "",
                f"  wall screen: {base}/wall/guian?token={tokens.read_token}",
                f"  API docs:    {base}/docs (write token: {tokens.write_token})",
                "",
                "Press Ctrl-C to stop.",
            ]
        ),
        flush=True,
    )
