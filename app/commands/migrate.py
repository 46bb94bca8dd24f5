"""``greenpulse migrate``: create or upgrade the schema and load the plant file."""

from __future__ import annotations

from dataclasses import dataclass

from app.commands.runtime import open_database
from app.config import Settings
from app.db import migrate
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


def run_migrate(settings: Settings, *, timescaledb: bool = True) -> Migrated:
    """Raises PlantFileError before touching the database when the plant file is wrong."""
    plant = load_plant(settings.plant_file)
    with open_database(settings) as db:
        info = migrate.upgrade(db.engine, timescaledb=timescaledb)
        sync_plant(db.sessions, plant)
        url = db.engine.url.render_as_string(hide_password=True)
    return Migrated(url, info, plant.name, sum(len(s.meters) for s in plant.sites))
