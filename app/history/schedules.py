"""A site's price schedules, from its energy file (``<plant file stem>.energy.yaml``)."""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from app.config import Settings
from app.domain.tariffs import PriceSchedule
from app.energy.file import EnergyFileError, load_energy_file
from app.plant.file import demo_plant_path

log = logging.getLogger(__name__)


def energy_file_for(plant_file: Path | None) -> Path:
    """The energy file beside a plant file (the packaged demo's when none is given)."""
    plant = plant_file or demo_plant_path()
    return plant.with_name(f"{plant.stem}.energy.yaml")


def site_schedules(settings: Settings, site_id: str, zone: ZoneInfo) -> tuple[PriceSchedule, ...]:
    """The schedules of ``site_id``; none when the file is absent, is another site's, or is bad.

    The energy file is the settings' ``energy_file`` where the settings have one, else the
    one beside the plant file.
    """
    given: Path | None = getattr(settings, "energy_file", None)
    path = given or energy_file_for(settings.plant_file)
    if not path.is_file():
        return ()
    return _load(path, path.stat().st_mtime_ns, site_id, str(zone))


@lru_cache(maxsize=16)
def _load(path: Path, mtime_ns: int, site_id: str, zone: str) -> tuple[PriceSchedule, ...]:
    try:
        settings = load_energy_file(path, zone=ZoneInfo(zone))
    except EnergyFileError as exc:
        log.warning("energy file unusable, history shows no cost: %s", exc)
        return ()
    return settings.tariffs if settings.site_id == site_id else ()
