"""The ``greenpulse`` command: each subcommand hands its options to one module of this package.

Imports inside the commands are deliberate: ``greenpulse migrate`` does not load the
API, and only ``simulate`` and ``demo`` load the simulator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.auth.token_cli import token_cli as _token_cli
from app.commands.runtime import (
    configure_logging,
    load_settings,
    require_schema,
    run_until_signal,
)

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
    to: Annotated[
        str, typer.Option("--to", help="schema revision to reach (older: downgrade; -1: one step)")
    ] = "head",
) -> None:
    """Create, upgrade or downgrade the schema (under a lock), load the plant file, and say
    which storage mode runs.

    Changes the database at --database-url: tables, hypertables, the plant's meters.
    """
    from app.commands.migrate import run_migrate
    from app.db.schema_guard import SchemaMismatchError
    from app.plant.file import PlantFileError

    settings = load_settings(database_url, plant_file)
    configure_logging(settings)
    try:
        done = run_migrate(settings, to=to, timescaledb=timescaledb)
    except (PlantFileError, SchemaMismatchError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(f"schema revision: {done.revision or 'none'} (this version's head: {done.head})")
    typer.echo(f"database: {done.database}")
    typer.echo(f"storage mode: {done.storage.mode.value}")
    typer.echo(f"why: {done.storage.reason}")
    typer.echo(f"plant: {done.plant_name}: {done.meters} meters loaded")


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

    from app.commands.demo import DemoOptions, DemoRefused, run_demo

    configure_logging(load_settings(), quiet_libraries=True)
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
    """Run the API and the wall screen (the schema must be current: greenpulse migrate).

    Writes to the database at --database-url only what clients change through the API
    (factors, certificates, offsets, alert transitions and rules, token last use).
    """
    from app.auth.tokens import resolve_tokens
    from app.commands.serve import run_serve
    from app.plant.file import load_plant

    settings = load_settings(database_url, plant_file)
    configure_logging(settings)
    require_schema(settings)
    tokens, generated = resolve_tokens(settings)
    if generated:
        typer.echo(
            "no GREENPULSE_API_TOKEN / GREENPULSE_READ_TOKEN set: generated for this run only:\n"
            f"  write token: {tokens.write_token}\n  read token:  {tokens.read_token}"
        )
    listen = f"http://{host or settings.host}:{port or settings.port}"
    # a token set in the environment is the operator's secret: never printed (nor logged)
    read = tokens.read_token if generated else "$GREENPULSE_READ_TOKEN"
    for site in load_plant(settings.plant_file).sites:
        typer.echo(f"wall screen: {listen}/wall/{site.id}?token={read}")
    typer.echo(f"API docs:    {listen}/docs")
    run_serve(settings, tokens, host=host or settings.host, port=port or settings.port)


@cli.command()
def ingest(database_url: DatabaseOption = None, plant_file: PlantOption = None) -> None:
    """Run the MQTT ingester (the schema must be current: greenpulse migrate).

    Writes readings, rollups, meter events and dead letters to the database at --database-url.
    """
    from app.commands.ingest import run_ingest

    settings = load_settings(database_url, plant_file)
    configure_logging(settings)
    require_schema(settings)
    run_until_signal(lambda stop: run_ingest(settings, stop))


@cli.command()
def alerts(
    database_url: DatabaseOption = None,
    plant_file: PlantOption = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="serve the engine's counters on this port's /metrics")
    ] = None,
) -> None:
    """Run the alert engine: spikes, silent meters, PV shortfall; REST, MQTT and webhooks.

    Writes alerts and webhook deliveries to the database at --database-url. Several
    may run at once: one open alert per condition, each delivery claimed by one engine.
    """
    from app.commands.alerts import run_alerts

    settings = load_settings(database_url, plant_file)
    configure_logging(settings)
    require_schema(settings)
    run_until_signal(lambda stop: run_alerts(settings, stop, metrics_port=metrics_port))


@cli.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def simulate(ctx: typer.Context) -> None:
    """Publish a simulated plant (or a benchmark flood) to any MQTT broker; see --help."""
    from app.commands.simulate import run_simulate

    run_simulate(ctx.args)


cli.add_typer(_token_cli, name="token")


def main() -> None:
    cli()
