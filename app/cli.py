"""The ``greenpulse`` command: the only place that wires the pieces together."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from app.config import Settings
from simulator.cli import simulate as _simulate

cli = typer.Typer(
    name="greenpulse",
    help="Real-time energy and carbon monitor for factories.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # click's plain help: no "<bool>" beside flags, fits 80 columns
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"greenpulse {version('greenpulse')}")
        raise typer.Exit()


@cli.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """Real-time energy and carbon monitor for factories."""


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


@cli.command()
def migrate(
    database_url: DatabaseOption = None,
    plant_file: PlantOption = None,
    timescaledb: Annotated[
        bool,
        typer.Option(
            "--timescaledb/--no-timescaledb",
            help="create the TimescaleDB extension when the server offers it",
        ),
    ] = True,
) -> None:
    """Create or upgrade the schema, load the plant file, and say which storage mode runs.

    Changes the database at --database-url: tables, hypertables, the plant's meters.
    """
    from app.db import migrate as db_migrate
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
        info = db_migrate.upgrade(engine, timescaledb=timescaledb)
        sync_plant(make_sessionmaker(engine), plant)
    finally:
        engine.dispose()
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
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh/--no-fresh", help="delete the kept database and tokens, start a new plant"
        ),
    ] = False,
) -> None:
    """Run everything on one machine: broker, SQLite, simulator, ingester, alerts, API.

    Keeps in the current directory, and continues from on the next run:
    greenpulse-demo.db (the plant's history), greenpulse-demo-tokens.json (the wall
    screen's token) and greenpulse-demo-state.json (the simulated clock). A lock file,
    greenpulse-demo.lock, stops a second demo in the same directory.
    """
    import asyncio

    from app.demo import DemoOptions, DemoRefused, run_demo

    _settings()  # logging as configured
    try:
        options = DemoOptions(
            port=port,
            mqtt_port=mqtt_port,
            speed=speed,
            backfill_hours=backfill_hours,
            seed=seed,
            duration_s=duration,
            database_url=database_url,
            fresh=fresh,
        )
    except ValueError as exc:
        typer.echo(f"greenpulse demo: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    try:
        asyncio.run(run_demo(options))
    except DemoRefused as exc:
        typer.echo(f"greenpulse demo: {exc}", err=True)
        raise typer.Exit(code=1) from exc


@cli.command()
def serve(
    database_url: DatabaseOption = None,
    plant_file: PlantOption = None,
    host: Annotated[str | None, typer.Option(help="default: GREENPULSE_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default: GREENPULSE_PORT")] = None,
) -> None:
    """Run the API and the wall screen.

    Migrates the schema at --database-url first (tables and the plant's meters).
    """
    import uvicorn

    from app.main import create_app, resolve_tokens
    from app.plant_file import load_plant

    settings = _settings(database_url, plant_file)
    tokens, generated = resolve_tokens(settings)
    if generated:
        typer.echo(
            "no GREENPULSE_API_TOKEN / GREENPULSE_READ_TOKEN set: generated for this run only:\n"
            f"  write token: {tokens.write_token}\n  read token:  {tokens.read_token}"
        )
    listen = f"http://{host or settings.host}:{port or settings.port}"
    for site in load_plant(settings.plant_file).sites:
        typer.echo(f"wall screen: {listen}/wall/{site.id}?token={tokens.read_token}")
    typer.echo(f"API docs:    {listen}/docs")
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
    """Run the MQTT ingester (the schema must exist: greenpulse migrate).

    Writes readings, rollups and meter events to the database at --database-url.
    """
    from ingest.service import run_ingester

    run_ingester(_settings(database_url, plant_file))


@cli.command()
def alerts(database_url: DatabaseOption = None, plant_file: PlantOption = None) -> None:
    """Run the alert engine: spikes, silent meters, PV shortfall; REST, MQTT and webhooks.

    Writes alerts and webhook deliveries to the database at --database-url. Several
    may run at once: one open alert per condition, each delivery claimed by one engine.
    """
    import asyncio
    import signal

    from app.alerts_engine import AlertEngine
    from app.db.engine import make_engine, make_sessionmaker
    from app.plant_file import load_plant

    settings = _settings(database_url, plant_file)

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


def main() -> None:
    cli()
