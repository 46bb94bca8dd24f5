"""Load profiles: which meter behaves how, as tables.

A meter's profile is found from its resource and the words in its id, name and
area (``PROFILE_RULES``, first match wins); an area's shift pattern likewise
from the area and its parents (``AREA_SCHEDULE_RULES``). A load profile gives
the meter's rate as a fraction of its size (``rated_kw`` or
``max_rate_per_hour``)::

    fraction = base + load * driver + weather_gain * weather   (then cycles, warm-up, noise)

where the driver is the area's line rate, the site's production index, office
occupancy, canteen meals or darkness.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from app.domain.plant import Area, Meter, Resource, Site
from simulator.calendar import (
    CONTINUOUS,
    OFFICE_HOURS,
    THREE_SHIFT,
    TWO_SHIFT,
    ShiftPattern,
)


class Kind(StrEnum):
    """How a meter's rate is computed."""

    LOAD = "load"  # base + load x driver + weather
    PV = "pv"  # the sun, clouds and trips
    PRODUCTION = "production"  # line output counter
    GRID_IMPORT = "grid_import"  # site balance: consumption - PV, when positive
    GRID_EXPORT = "grid_export"  # site balance: PV - consumption, when positive
    WATER_MAIN = "water_main"  # sum of the water it feeds, net of reuse
    REUSE = "reuse"  # a share of process rinse or cooling-tower water


class Driver(StrEnum):
    """What makes a load vary."""

    CONSTANT = "constant"
    LINE = "line"  # the meter's area line rate (shift pattern x availability)
    SITE = "site"  # the site's production index (mean of its lines)
    OCCUPANCY = "occupancy"  # office hours
    CANTEEN = "canteen"  # meal times
    NIGHT = "night"  # darkness (lighting)


class WeatherTerm(StrEnum):
    NONE = "none"
    COOLING = "cooling"  # 0-1, rises with outdoor temperature above 14 °C
    HEATING = "heating"  # 0-1, rises as it gets colder than 16 °C


@dataclass(frozen=True)
class Profile:
    """How one meter's rate moves.

    Attributes:
        base: fraction of size drawn whatever the driver (standby, leaks, fans).
        load: extra fraction at full driver.
        weather_gain: extra fraction at full cooling/heating demand.
        warmup_min / warmup_level: after a run starts (ovens, boilers) the
            burner fires at ``warmup_level`` and settles over ``warmup_min``.
        cycle_min / cycle_depth: process cycles (fill/rinse/drain, load/unload);
            for ``cycle_depth`` of each cycle's last 40 % the rate is reduced.
        noise: relative noise (slow drift plus minute-to-minute).
        idle_off: nothing at all while the driver's schedule is off (gas ovens).
        follows: for reuse meters, "process" (rinse) or "cooling" (tower blowdown).
    """

    name: str
    kind: Kind = Kind.LOAD
    driver: Driver = Driver.CONSTANT
    base: float = 0.0
    load: float = 0.0
    weather: WeatherTerm = WeatherTerm.NONE
    weather_gain: float = 0.0
    warmup_min: float = 0.0
    warmup_level: float = 0.0
    cycle_min: float = 0.0
    cycle_depth: float = 0.0
    noise: float = 0.03
    idle_off: bool = False
    follows: str = "process"


# fmt: off
_COOL = WeatherTerm.COOLING
_HEAT = WeatherTerm.HEATING

DRY_ROOM = Profile("dry room air", driver=Driver.SITE, base=0.55, load=0.10,
                   weather=_COOL, weather_gain=0.22, noise=0.02)
FORMATION = Profile("formation cabinets", driver=Driver.LINE, base=0.12, load=0.70,
                    cycle_min=90, cycle_depth=0.12)
AGING = Profile("aging rooms", driver=Driver.LINE, base=0.45, load=0.30,
                weather=_COOL, weather_gain=0.10, noise=0.02)
COMPRESSED_AIR = Profile("compressed air", driver=Driver.SITE, base=0.30, load=0.55,
                         cycle_min=6, cycle_depth=0.15, noise=0.05)
CHILLER = Profile("chiller", driver=Driver.SITE, base=0.22, load=0.25,
                  weather=_COOL, weather_gain=0.45)
WASTEWATER = Profile("wastewater treatment", driver=Driver.SITE, base=0.45, load=0.35,
                     noise=0.05)
LIGHTING = Profile("lighting", driver=Driver.NIGHT, base=0.12, load=0.65)
OFFICE = Profile("office", driver=Driver.OCCUPANCY, base=0.18, load=0.62,
                 weather=_COOL, weather_gain=0.15, noise=0.04)
PRODUCTION_LINE = Profile("production line", driver=Driver.LINE, base=0.12, load=0.72,
                          noise=0.04)
OVEN = Profile("gas oven", driver=Driver.LINE, base=0.30, load=0.45, warmup_min=60,
               warmup_level=0.95, idle_off=True)
BOILER = Profile("steam boiler", driver=Driver.SITE, base=0.18, load=0.45, weather=_HEAT,
                 weather_gain=0.25, warmup_min=90, warmup_level=0.9, noise=0.04)
KITCHEN = Profile("kitchen gas", driver=Driver.CANTEEN, base=0.04, load=0.85, noise=0.08)
COOLING_MAKEUP = Profile("cooling tower make-up", driver=Driver.SITE, base=0.15, load=0.15,
                         weather=_COOL, weather_gain=0.55, noise=0.05)
DOMESTIC_WATER = Profile("domestic water", driver=Driver.OCCUPANCY, base=0.06, load=0.6,
                         noise=0.1)
PROCESS_WATER = Profile("process water", driver=Driver.LINE, base=0.04, load=0.55,
                        cycle_min=20, cycle_depth=0.8, noise=0.05)
WATER_MAIN = Profile("water inlet", kind=Kind.WATER_MAIN, noise=0.02)
REUSE_COOLING = Profile("cooling reuse", kind=Kind.REUSE, follows="cooling")
REUSE_PROCESS = Profile("process reuse", kind=Kind.REUSE, follows="process")
LINE_OUTPUT = Profile("line output", kind=Kind.PRODUCTION, driver=Driver.LINE, load=0.5)
PV_ARRAY = Profile("PV array", kind=Kind.PV)
GRID_IMPORT = Profile("grid import", kind=Kind.GRID_IMPORT)
GRID_EXPORT = Profile("grid export", kind=Kind.GRID_EXPORT)
# fmt: on

_ELEC = frozenset({Resource.ELECTRICITY})


@dataclass(frozen=True)
class Rule:
    resources: frozenset[Resource]
    keywords: tuple[str, ...]  # any of them in "id name area" (lower case); () matches all
    profile: Profile


PROFILE_RULES: Final[tuple[Rule, ...]] = (
    Rule(frozenset({Resource.PV}), (), PV_ARRAY),
    Rule(frozenset({Resource.ELECTRICITY_IMPORT}), (), GRID_IMPORT),
    Rule(frozenset({Resource.ELECTRICITY_EXPORT}), (), GRID_EXPORT),
    Rule(frozenset({Resource.PRODUCTION}), (), LINE_OUTPUT),
    Rule(_ELEC, ("dry room", "dry-room", "dryroom", "dehumid"), DRY_ROOM),
    Rule(_ELEC, ("formation",), FORMATION),
    Rule(_ELEC, ("aging", "ageing"), AGING),
    Rule(_ELEC, ("compressor", "compressed air"), COMPRESSED_AIR),
    Rule(_ELEC, ("chiller", "hvac", "cooling"), CHILLER),
    Rule(_ELEC, ("wastewater", "wwtp", "sewage"), WASTEWATER),
    Rule(_ELEC, ("lighting", "ev charger"), LIGHTING),
    Rule(_ELEC, ("office", "canteen", "admin"), OFFICE),
    Rule(_ELEC, (), PRODUCTION_LINE),
    Rule(frozenset({Resource.GAS}), ("oven", "dryer", "drying", "furnace"), OVEN),
    Rule(frozenset({Resource.GAS}), ("canteen", "kitchen"), KITCHEN),
    Rule(frozenset({Resource.GAS}), (), BOILER),
    Rule(frozenset({Resource.WATER}), ("cooling", "make-up", "makeup"), COOLING_MAKEUP),
    Rule(frozenset({Resource.WATER}), ("inlet", "municipal", "incoming", "main"), WATER_MAIN),
    Rule(frozenset({Resource.WATER}), ("office", "canteen", "domestic"), DOMESTIC_WATER),
    Rule(frozenset({Resource.WATER}), (), PROCESS_WATER),
    Rule(frozenset({Resource.WATER_REUSE}), ("cooling", "blowdown", "tower"), REUSE_COOLING),
    Rule(frozenset({Resource.WATER_REUSE}), (), REUSE_PROCESS),
)

AREA_SCHEDULE_RULES: Final[tuple[tuple[tuple[str, ...], ShiftPattern], ...]] = (
    # battery formation and aging run around the clock on the cells made before
    (("formation", "aging", "ageing"), CONTINUOUS),
    (("office", "canteen", "admin"), OFFICE_HOURS),
    (("module", "pack"), TWO_SHIFT),
    (
        ("utilit", "compressor", "chiller", "boiler", "water", "substation", "pv", "solar"),
        CONTINUOUS,
    ),
)
DEFAULT_SCHEDULE: Final = THREE_SHIFT

DEFAULT_SIZE_PER_HOUR: Final = {
    Resource.ELECTRICITY: 100.0,
    Resource.ELECTRICITY_IMPORT: 1000.0,
    Resource.ELECTRICITY_EXPORT: 1000.0,
    Resource.PV: 100.0,
    Resource.GAS: 50.0,
    Resource.WATER: 10.0,
    Resource.WATER_REUSE: 10.0,
    Resource.PRODUCTION: 100.0,
}


def profile_for(meter: Meter) -> Profile:
    """The first rule matching the meter's resource and words."""
    text = f"{meter.id} {meter.name} {meter.area}".lower()
    for rule in PROFILE_RULES:
        if meter.resource in rule.resources and (
            not rule.keywords or any(word in text for word in rule.keywords)
        ):
            return rule.profile
    raise LookupError(f"no profile rule for meter {meter.id!r}")  # pragma: no cover


def size_per_hour(meter: Meter) -> float:
    """A meter's scale in canonical units per hour (kW, m³/h, unit/h)."""
    if meter.rated_kw is not None and meter.resource in {
        Resource.ELECTRICITY, Resource.ELECTRICITY_IMPORT, Resource.ELECTRICITY_EXPORT, Resource.PV
    }:  # fmt: skip
        return meter.rated_kw
    if meter.max_rate_per_hour is not None:
        return meter.max_rate_per_hour
    if meter.rated_kw is not None:
        return meter.rated_kw
    return DEFAULT_SIZE_PER_HOUR[meter.resource]


def area_schedules(site: Site) -> dict[str, ShiftPattern]:
    """Each area's shift pattern, from its own and its parents' words."""
    words: dict[str, str] = {}
    schedules: dict[str, ShiftPattern] = {}
    for area, parent in site.walk_areas():
        words[area.id] = f"{_words(area)} {words.get(parent, '') if parent else ''}"
        schedules[area.id] = _schedule_for(words[area.id])
    return schedules


def _words(area: Area) -> str:
    return f"{area.id} {area.name}".lower()


def _schedule_for(text: str) -> ShiftPattern:
    for keywords, pattern in AREA_SCHEDULE_RULES:
        if any(word in text for word in keywords):
            return pattern
    return DEFAULT_SCHEDULE
