"""``greenpulse simulate``: publish a simulated plant (or a benchmark flood) to MQTT.

Registered by the application CLI with ``app.command("simulate")(simulate)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Annotated

import aiomqtt
import typer

from app.config import Settings
from app.domain.plant import Plant
from app.plant.file import PlantFileError, load_plant
from simulator.events import Injection, InjectionKind, parse_spike, parse_window
from simulator.options import SimOptions
from simulator.progress import BackfillBar
from simulator.publish import flood, run

logger = logging.getLogger(__name__)


def simulate(
    speed: Annotated[
        float,
        typer.Option(help="Simulated seconds per wall second: 1 real time, 1440 a day a minute."),
    ] = 1.0,
    backfill_days: Annotated[
        float, typer.Option(help="Publish this many days of history first, as fast as possible.")
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Same seed, same readings.")] = 0,
    duration: Annotated[
        float | None,
        typer.Option(
            help="Wall-clock seconds of live publishing (0: backfill only; default: forever)."
        ),
    ] = None,
    realistic: Annotated[
        bool,
        typer.Option(
            "--realistic/--clean",
            help="Meter faults (resets, rollovers, dropouts, late bursts, duplicates) or none.",
        ),
    ] = True,
    spike: Annotated[
        list[str] | None,
        typer.Option(help="METER_OR_AREA:FACTOR:START_OFFSET_S:DURATION_S (repeatable)."),
    ] = None,
    offline: Annotated[
        list[str] | None, typer.Option(help="METER:START_OFFSET_S:DURATION_S (repeatable).")
    ] = None,
    trip: Annotated[
        list[str] | None,
        typer.Option(help="PV inverter trip, METER:START_OFFSET_S:DURATION_S (repeatable)."),
    ] = None,
    flood_meters: Annotated[
        int | None, typer.Option(help="Flood mode: this many synthetic meters.")
    ] = None,
    flood_rate: Annotated[
        float | None, typer.Option(help="Flood mode: readings per second in total (default: max).")
    ] = None,
    flood_count: Annotated[int, typer.Option(help="Flood mode: readings to send.")] = 100_000,
    batch_size: Annotated[
        int | None, typer.Option(help="Readings per gateway batch message (default: single).")
    ] = None,
    plant_file: Annotated[
        Path | None, typer.Option(help="Plant YAML (default: settings, then the demo plant).")
    ] = None,
    mqtt_url: Annotated[
        str | None, typer.Option(help="Broker URL, e.g. mqtt://127.0.0.1:1883.")
    ] = None,
    topic_prefix: Annotated[str | None, typer.Option(help="First level of every topic.")] = None,
    sparkplug: Annotated[
        bool,
        typer.Option(
            "--sparkplug",
            help="Publish as Sparkplug B edge nodes (one per site, group greenpulse-sim), live.",
        ),
    ] = False,
) -> None:
    """Publish what a real plant's meters would publish, to any MQTT broker.

    Changes nothing on disk: readings go to the broker only.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = Settings(mqtt_url=mqtt_url) if mqtt_url else Settings()
    if batch_size is not None and batch_size < 1:
        raise typer.BadParameter("must be >= 1", param_hint="--batch-size")
    if not speed > 0:
        raise typer.BadParameter(
            f"must be above 0 (1 = real time), got {speed:g}", param_hint="--speed"
        )
    if not backfill_days >= 0:
        raise typer.BadParameter(
            f"cannot be negative, got {backfill_days:g}", param_hint="--backfill-days"
        )
    try:
        if flood_meters is not None:
            asyncio.run(
                flood(
                    settings,
                    meters=flood_meters,
                    rate_per_s=flood_rate,
                    count=flood_count,
                    batch_size=batch_size,
                    prefix=topic_prefix,
                )
            )
            return
        plant = _load(plant_file or settings.plant_file)
        if sparkplug:
            asyncio.run(_sparkplug_until_signal(settings, plant, speed, seed, realistic, duration))
            return
        injections = _injections(plant, spike or [], offline or [], trip or [])
        asyncio.run(
            _run_until_signal(
                settings,
                plant,
                speed=speed,
                backfill_days=backfill_days,
                seed=seed,
                options=SimOptions.realistic() if realistic else SimOptions.clean(),
                duration_s=duration,
                injections=injections,
                batch_size=batch_size,
                prefix=topic_prefix,
            )
        )
    except aiomqtt.MqttError as exc:
        endpoint = settings.mqtt_endpoint()
        typer.echo(f"cannot publish to {endpoint.host}:{endpoint.port}: {exc}", err=True)
        raise typer.Exit(1) from exc
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


async def _run_until_signal(
    settings: Settings,
    plant: Plant,
    *,
    speed: float,
    backfill_days: float,
    seed: int,
    options: SimOptions,
    duration_s: float | None,
    injections: list[Injection],
    batch_size: int | None,
    prefix: str | None,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    stats = await run(
        settings,
        plant,
        speed=speed,
        backfill_days=backfill_days,
        seed=seed,
        options=options,
        stop=stop,
        duration_s=duration_s,
        injections=injections,
        batch_size=batch_size,
        prefix=prefix,
        progress=BackfillBar() if backfill_days > 0 else None,
    )
    typer.echo(
        f"published {stats.readings} readings in {stats.messages} messages "
        f"({stats.simulated_from:%Y-%m-%d %H:%M} to {stats.simulated_to:%Y-%m-%d %H:%M} UTC "
        f"simulated, {stats.elapsed_s:.1f} s)"
    )


async def _sparkplug_until_signal(
    settings: Settings,
    plant: Plant,
    speed: float,
    seed: int,
    realistic: bool,
    duration_s: float | None,
) -> None:
    from simulator.sparkplug import run_sparkplug_plant

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    stats = await run_sparkplug_plant(
        settings,
        plant,
        speed=speed,
        seed=seed,
        options=SimOptions.realistic() if realistic else SimOptions.clean(),
        stop=stop,
        duration_s=duration_s,
    )
    typer.echo(
        f"published {stats.readings} readings in {stats.messages} Sparkplug messages "
        f"({stats.rebirths} rebirths on request)"
    )


def _load(path: Path | None) -> Plant:
    try:
        return load_plant(path)
    except PlantFileError as exc:
        raise typer.BadParameter(str(exc), param_hint="--plant-file") from exc


def _injections(
    plant: Plant, spikes: list[str], offlines: list[str], trips: list[str]
) -> list[Injection]:
    """Parse and check the event options against the plant."""
    meter_ids = {m.id for _, m in plant.meters()}
    area_ids = {a.id for s in plant.sites for a, _ in s.walk_areas()}
    pv_ids = {m.id for _, m in plant.meters() if m.resource == "pv"}
    parsed: list[Injection] = []
    for option, texts in (("--spike", spikes), ("--offline", offlines), ("--trip", trips)):
        for text in texts:
            try:
                if option == "--spike":
                    injection = parse_spike(text)
                else:
                    kind = InjectionKind.OFFLINE if option == "--offline" else InjectionKind.TRIP
                    injection = parse_window(kind, text)
            except ValueError as exc:
                raise typer.BadParameter(str(exc), param_hint=option) from exc
            known = {
                "--spike": meter_ids | area_ids,
                "--offline": meter_ids,
                "--trip": pv_ids,
            }[option]
            if injection.target not in known:
                what = {"--spike": "meter or area", "--offline": "meter", "--trip": "PV meter"}
                raise typer.BadParameter(
                    f"no {what[option]} {injection.target!r} in the plant", param_hint=option
                )
            parsed.append(injection)
    return parsed
