"""The ``greenpulse`` command: the only place that wires the pieces together."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from app.config import Settings

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


def _not_yet(what: str) -> None:
    typer.echo(f"greenpulse {what}: not available yet in this version", err=True)
    raise typer.Exit(code=2)


@cli.command()
def migrate(
    database_url: DatabaseOption = None,
    plant_file: PlantOption = None,
    no_timescaledb: Annotated[
        bool, typer.Option("--no-timescaledb", help="do not create the TimescaleDB extension")
    ] = False,
) -> None:
    """Create or upgrade the schema, load the plant file, and say which storage mode runs."""
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
        info = db_migrate.upgrade(engine, timescaledb=not no_timescaledb)
        sync_plant(make_sessionmaker(engine), plant)
    finally:
        engine.dispose()
    typer.echo(f"database: {engine.url.render_as_string(hide_password=True)}")
    typer.echo(f"storage mode: {info.mode.value}")
    typer.echo(f"why: {info.reason}")
    typer.echo(f"plant: {plant.name}: {sum(len(s.meters) for s in plant.sites)} meters loaded")


@cli.command()
def demo() -> None:
    """Run everything on one machine: broker, SQLite, simulator, ingester, API."""
    _not_yet("demo")


@cli.command()
def serve() -> None:
    """Run the API and the wall screen."""
    _not_yet("serve")


@cli.command()
def ingest() -> None:
    """Run the MQTT ingester."""
    _not_yet("ingest")


@cli.command()
def simulate() -> None:
    """Publish a simulated plant to an MQTT broker."""
    _not_yet("simulate")


def main() -> None:
    cli()
