"""``greenpulse migrate``: create, upgrade or downgrade the schema and load the plant file."""

from __future__ import annotations

from dataclasses import dataclass

from app.commands.runtime import open_database
from app.config import Settings
from app.db import schema_guard
from app.db.timescale import StorageInfo
from app.plant.file import load_plant
from app.plant.sync import sync_plant


@dataclass(frozen=True, slots=True)
class Migrated:
    database: str
    """The URL, password hidden."""
    storage: StorageInfo
    plant_name: str
    meters: int
    revision: str | None
    head: str


def run_migrate(settings: Settings, *, to: str = "head", timescaledb: bool = True) -> Migrated:
    """Move the schema to ``to`` under a database lock, then load the plant file at head.

    Raises PlantFileError before touching the database when the plant file is wrong, and
    SchemaMismatchError when ``to`` names no revision.
    """
    plant = load_plant(settings.plant_file)
    with open_database(settings) as db:
        info = schema_guard.migrate_to(db.engine, to, timescaledb=timescaledb)
        state = schema_guard.schema_state(db.engine)
        if state.up_to_date:
            sync_plant(db.sessions, plant)
        url = db.engine.url.render_as_string(hide_password=True)
    meters = sum(len(s.meters) for s in plant.sites)
    return Migrated(url, info, plant.name, meters, state.current, state.head)
