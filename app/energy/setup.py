"""Build the energy service a process uses, from the settings and the plant."""

from __future__ import annotations

import logging

from app.config import Settings
from app.domain.plant import Plant
from app.energy.catalogue import load_coefficients
from app.energy.file import energy_path_for, energy_site, load_plant_energy
from app.energy.service import EnergyService

log = logging.getLogger(__name__)


def build_energy_service(settings: Settings, plant: Plant) -> EnergyService:
    """The energy file (see ``Settings.energy_file``) and the coefficient catalogue.

    Raises:
        EnergyFileError: the energy file is invalid (a configured file that is wrong
            stops the process rather than showing figures without it).
    """
    path = energy_path_for(settings.energy_file, settings.plant_file)
    # the packaged demo's file goes with the demo plant only, not with a plant given to
    # the process some other way
    implicit = settings.energy_file is None and settings.plant_file is None
    if path is not None and implicit and energy_site(path) not in {s.id for s in plant.sites}:
        path = None
    energy = {} if path is None else load_plant_energy(path, plant)
    log.info("energy file: %s", path if path is not None else "none (no energy figures)")
    return EnergyService(energy, load_coefficients())
