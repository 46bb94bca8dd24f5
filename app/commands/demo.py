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
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.alerts.engine import AlertEngine
from app.auth.tokens import Tokens
from app.commands import demo_state
from app.commands.app import create_app
from app.commands.demo_state import DEMO_DATABASE, DemoRefused
from app.commands.runtime import open_database, stop_on_signals
from app.config import Settings
from app.db import migrate
from app.db.models import MeterStateRow
from app.plant.file import demo_plant_path, load_plant
from app.plant.sync import sync_plant

log = logging.getLogger(__name__)

__all__ = ["DEMO_DATABASE", "DemoOptions", "DemoRefused", "SimClock", "run_demo"]
CLOCK_SAVE_INTERVAL_S = 5.0


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
    fresh: bool = False
    directory: Path = Path()

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError(f"--speed must be above 0 (1 = real time), got {self.speed:g}")
        if not self.backfill_hours >= 0:
            raise ValueError(f"--backfill-hours cannot be negative, got {self.backfill_hours:g}")
        if self.duration_s is not None and not self.duration_s > 0:
            raise ValueError(f"--duration must be above 0 seconds, got {self.duration_s:g}")


def _newest_reading(factory: sessionmaker[Session]) -> datetime | None:
    with factory() as session:
        newest = session.scalar(select(func.max(MeterStateRow.last_time)))
    return newest


def kept_registers(factory: sessionmaker[Session]) -> dict[str, float]:
    """Each meter's register as last stored (canonical): where the simulated meters resume."""
    with factory() as session:
        rows = session.execute(select(MeterStateRow.meter_id, MeterStateRow.last_value))
        return {meter_id: value for meter_id, value in rows}


async def _save_clock_every(directory: Path, clock: SimClock, stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=CLOCK_SAVE_INTERVAL_S)
        await asyncio.to_thread(demo_state.save_clock, directory, clock())


def _broker_config(port: int) -> dict[str, object]:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {
            "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
        },
    }


async def run_demo(options: DemoOptions, *, announce: bool = True) -> None:
    """Run until Ctrl-C (or ``duration_s``), then stop every part cleanly.

    Raises:
        DemoRefused: another demo runs in the directory, or a port is taken; nothing
            on disk was changed.
    """
    directory = options.directory.resolve()
    with demo_state.demo_lock(directory):
        demo_state.check_port_free(options.port, "--port")
        demo_state.check_port_free(options.mqtt_port, "--mqtt-port")
        await _run_locked(options, directory, announce=announce)


async def _run_locked(options: DemoOptions, directory: Path, *, announce: bool) -> None:
    # the simulator and the ingester are loaded by this command only
    from ingest.service import Ingester, IngestOptions
    from ingest.writer import BatchWriter
    from simulator.options import SimOptions
    from simulator.progress import BackfillBar
    from simulator.publish import run as run_simulator

    for noisy in ("amqtt", "transitions", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    database_url = options.database_url or f"sqlite:///{directory / DEMO_DATABASE}"
    forgotten = options.fresh and await asyncio.to_thread(demo_state.forget, directory)
    settings = Settings(
        database_url=database_url,
        mqtt_url=f"mqtt://127.0.0.1:{options.mqtt_port}",
        mqtt_client_id="greenpulse-demo-ingest",
        plant_file=demo_plant_path(),
        factor_file=demo_plant_path().parent / "demo_factor_overrides.yaml",
        port=options.port,
    )
    plant = load_plant(settings.plant_file)
    tokens, _ = demo_state.load_or_create_tokens(directory)

    with open_database(settings) as db:
        engine, factory = db.engine, db.sessions
        storage = await asyncio.to_thread(migrate.upgrade, engine)
        await asyncio.to_thread(sync_plant, factory, plant)
        start = demo_state.resume_point(
            directory,
            backfill_hours=options.backfill_hours,
            newest_reading=await asyncio.to_thread(_newest_reading, factory),
            now=datetime.now(UTC),
        )
        # a resumed plant's meters read on from their stored registers: a restart is
        # not a register reset on every meter
        registers = await asyncio.to_thread(kept_registers, factory) if start.resumed else {}
        clock = SimClock(start.origin, time.monotonic(), options.speed)

        broker = Broker(_broker_config(options.mqtt_port))
        await broker.start()
        stop = asyncio.Event()
        stop_on_signals(stop)

        ingester = Ingester(
            settings,
            plant,
            BatchWriter(factory, plant, storage),
            IngestOptions(mqtt_v5=False, summary_interval_s=60.0),
            clock=clock,
        )
        alerts = AlertEngine(factory, plant, settings, clock=clock)
        # one /metrics for the one process: the API's, the ingester's and the alert engine's
        metrics = (ingester.metrics.registry, alerts.registry)
        app = create_app(settings, plant=plant, tokens=tokens, clock=clock, extra_metrics=metrics)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=options.port, log_level="warning")
        )

        async def announce_when_listening() -> None:
            while not server.started:  # noqa: ASYNC110 (uvicorn offers no event for it)
                await asyncio.sleep(0.05)
            if announce:
                _announce(options, tokens, storage.reason, start, forgotten=forgotten)

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
                    backfill_days=start.backfill_hours / 24,
                    seed=options.seed,
                    options=SimOptions.realistic(),
                    stop=stop,
                    batch_size=500,  # gateway batches: a tenth of the messages to carry
                    progress=BackfillBar() if announce and start.backfill_hours else None,
                    now=clock.origin,
                    clock=clock,
                    registers=registers,
                ),
                name="simulator",
            ),
            asyncio.create_task(server.serve(), name="api"),
            asyncio.create_task(stop_server_when_asked(), name="stopper"),
            asyncio.create_task(announce_when_listening(), name="announce"),
            asyncio.create_task(_save_clock_every(directory, clock, stop), name="clock"),
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
                print(
                    f"GreenPulse demo could not serve on port {options.port} (--port).", flush=True
                )
            demo_state.save_clock(directory, clock())
            with contextlib.suppress(Exception):
                await broker.shutdown()
            if announce:
                print("GreenPulse demo stopped.", flush=True)


def _announce(
    options: DemoOptions,
    tokens: Tokens,
    storage: str,
    start: demo_state.ResumePoint,
    *,
    forgotten: bool,
) -> None:
    base = f"http://127.0.0.1:{options.port}"
    directory = options.directory.resolve()
    if start.resumed:
        kept = f"continuing the plant kept in {directory} (--fresh starts over)"
        history = f"resumed at {start.origin:%Y-%m-%d %H:%M} UTC"
    else:
        kept = ("started over (--fresh): " if forgotten else "new plant: ") + (
            f"database and tokens kept in {directory} for the next run"
        )
        history = f"{start.backfill_hours:g} h of history first"
    print(
        "\n".join(
            [
                "GreenPulse demo: Gui'an battery plant (41 meters, 19.47 MW rooftop PV)",
                f"  {kept}",
                f"  storage:     {storage}",
                f"  MQTT broker: mqtt://127.0.0.1:{options.mqtt_port} (embedded)",
                f"  time:        simulated, {options.speed:g}x real time, {history}",
                "",
                f"  wall screen: {base}/wall/guian?token={tokens.read_token}",
                f"  API docs:    {base}/docs (write token: {tokens.write_token})",
                "",
                "Press Ctrl-C to stop.",
            ]
        ),
        flush=True,
    )
