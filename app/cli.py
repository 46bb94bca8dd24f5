"""The ``greenpulse`` command: the only place that wires the pieces together."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from app.auth.token_cli import token_cli as _token_cli
from app.config import Settings
from simulator.cli import simulate as _simulate

cli = typer.Typer(
    name="greenpulse",
    help="Real-time energy and carbon monitor for factories.",
    no_args_is_help=True,
    add_completion=False,
)

PlantOption = Annotated[
    Path | None, typer.Option("--plant-file", help="plant YAML (default: GREENPULSE_PLANT_FILE)")
]
DatabaseOption = Annotated[
    str | None, typer.Option("--database-url", help="default: GREENPULSE_DATABASE_URL")
]


def _settings(database_url: str | None = None, plant_file: Path | None = None) -> Settings:
    overrides: dict[str, object] = {}
    if database_url:
        overrides["database_url"] = database_url
    if plant_file:
        overrides["plant_file"] = plant_file
    settings = Settings(**overrides)  # type: ignore[arg-type]
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return settings


def _require_schema(settings: Settings) -> None:
    """Refuse, in one line, to run against a schema older or newer than this code's."""
    logging.getLogger("alembic").setLevel(logging.WARNING)  # these commands never migrate
    from app.db import schema_guard
    from app.db.engine import make_engine

    engine = make_engine(settings.database_url)
    try:
        schema_guard.require_current(engine)
    except schema_guard.SchemaMismatchError as exc:
        typer.echo(f"greenpulse: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    finally:
        engine.dispose()


@cli.command()
def migrate(
    database_url: DatabaseOption = None,
    plant_file: PlantOption = None,
    no_timescaledb: Annotated[
        bool, typer.Option("--no-timescaledb", help="do not create the TimescaleDB extension")
    ] = False,
    to: Annotated[
        str, typer.Option("--to", help="schema revision to reach (older: downgrade; -1: one step)")
    ] = "head",
) -> None:
    """Create, upgrade or downgrade the schema (under a lock), load the plant file, and say
    which storage mode runs."""
    from app.db import schema_guard
    from app.db.engine import make_engine, make_sessionmaker
    from app.db.plant_sync import sync_plant
    from app.plant_file import PlantFileError, load_plant

    settings = _settings(database_url, plant_file)
    try:
        plant = load_plant(settings.plant_file)
    except PlantFileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from exc
    engine = make_engine(settings.database_url)
    try:
        info = schema_guard.migrate_to(engine, to, timescaledb=not no_timescaledb)
        state = schema_guard.schema_state(engine)
        if state.up_to_date:
            sync_plant(make_sessionmaker(engine), plant)
    except schema_guard.SchemaMismatchError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from exc
    finally:
        engine.dispose()
    typer.echo(f"schema revision: {state.current or 'none'} (this version's head: {state.head})")
    typer.echo(f"database: {engine.url.render_as_string(hide_password=True)}")
    typer.echo(f"storage mode: {info.mode.value}")
    typer.echo(f"why: {info.reason}")
    typer.echo(f"plant: {plant.name}: {sum(len(s.meters) for s in plant.sites)} meters loaded")


@cli.command()
def demo(
    port: Annotated[int, typer.Option(help="API and wall-screen port")] = 8000,
    mqtt_port: Annotated[int, typer.Option(help="embedded MQTT broker port")] = 18830,
    speed: Annotated[
        float, typer.Option(help="simulated seconds per real second (1 = real time)")
    ] = 60.0,
    backfill_hours: Annotated[float, typer.Option(help="history simulated first")] = 24.0,
    seed: Annotated[int, typer.Option(help="simulator seed")] = 1,
    duration: Annotated[
        float | None, typer.Option(help="stop after this many seconds (default: Ctrl-C)")
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Run everything on one machine: broker, SQLite, simulator, ingester, alerts, API."""
    import asyncio

    from app.demo import DemoOptions, run_demo

    _settings()  # logging as configured
    options = DemoOptions(
        port=port,
        mqtt_port=mqtt_port,
        speed=speed,
        backfill_hours=backfill_hours,
        seed=seed,
        duration_s=duration,
        database_url=database_url,
    )
    asyncio.run(run_demo(options))


@cli.command()
def serve(
    database_url: DatabaseOption = None,
    plant_file: PlantOption = None,
    host: Annotated[str | None, typer.Option(help="default: GREENPULSE_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default: GREENPULSE_PORT")] = None,
) -> None:
    """Run the API and the wall screen (migrates the schema first)."""
    import uvicorn

    from app.main import create_app, resolve_tokens

    settings = _settings(database_url, plant_file)
    _require_schema(settings)
    tokens, generated = resolve_tokens(settings)
    if generated:
        typer.echo(
            "no GREENPULSE_API_TOKEN / GREENPULSE_READ_TOKEN set: generated for this run only:\n"
            f"  write token: {tokens.write_token}\n  read token:  {tokens.read_token}"
        )
    app = create_app(settings, tokens=tokens)
    uvicorn.run(
        app,
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level.lower(),
        ws_ping_interval=20,
        ws_ping_timeout=20,
    )


@cli.command()
def ingest(database_url: DatabaseOption = None, plant_file: PlantOption = None) -> None:
    """Run the MQTT ingester (the schema must exist: greenpulse migrate)."""
    from ingest.service import run_ingester

    settings = _settings(database_url, plant_file)
    _require_schema(settings)
    run_ingester(settings)


@cli.command()
def alerts(database_url: DatabaseOption = None, plant_file: PlantOption = None) -> None:
    """Run the alert engine: spikes, silent meters, PV shortfall; REST, MQTT and webhooks.

    Several may run at once: the database keeps one open alert per condition and each
    webhook delivery is claimed by one engine.
    """
    import asyncio
    import signal

    from app.alerts_engine import AlertEngine
    from app.db.engine import make_engine, make_sessionmaker
    from app.plant_file import load_plant

    settings = _settings(database_url, plant_file)
    _require_schema(settings)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        engine = make_engine(settings.database_url)
        try:
            await AlertEngine(
                make_sessionmaker(engine), load_plant(settings.plant_file), settings
            ).run(stop)
        finally:
            engine.dispose()

    asyncio.run(run())


cli.command(name="simulate")(_simulate)
cli.add_typer(_token_cli, name="token")


def main() -> None:
    cli()
