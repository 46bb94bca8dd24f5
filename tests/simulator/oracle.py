"""Helpers for simulator tests: cached simulated days and register decoding."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from app.domain.plant import Meter, Plant, Resource
from app.domain.registers import RegisterKind
from app.domain.units import parse_unit
from app.plant.file import load_plant
from simulator.core import PlantSimulator
from simulator.meters import SimReading, register_decimals
from simulator.options import SimOptions

SHANGHAI = ZoneInfo("Asia/Shanghai")


@lru_cache(maxsize=1)
def demo_plant() -> Plant:
    return load_plant()


def meters_by_id() -> dict[str, Meter]:
    return {m.id: m for _, m in demo_plant().meters()}


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), SHANGHAI)


@lru_cache(maxsize=16)
def simulate_day(day: date, seed: int = 1, clouds: bool = True) -> tuple[SimReading, ...]:
    """One local day of the demo plant, clean meters (cached: days are pure functions)."""
    start = local_midnight(day)
    sim = PlantSimulator(demo_plant(), seed=seed, start=start, options=SimOptions(clouds=clouds))
    return tuple(sim.advance(start + timedelta(days=1)))


def by_meter(readings: Iterable[SimReading]) -> dict[str, list[SimReading]]:
    grouped: dict[str, list[SimReading]] = defaultdict(list)
    for r in readings:
        grouped[r.meter_id].append(r)
    return grouped


def true_sum(readings: Iterable[SimReading], resource: Resource) -> float:
    meters = meters_by_id()
    return sum(r.true_quantity for r in readings if meters[r.meter_id].resource is resource)


def conversion(meter: Meter) -> float:
    return meter.multiplier * parse_unit(meter.unit).factor


def decode_cumulative(meter: Meter, previous: float, current: float) -> float:
    """Canonical quantity between two raw cumulative values, wrapping at the rollover."""
    delta = current - previous
    if delta < 0 and meter.rollover is not None:
        delta += meter.rollover
    return delta * conversion(meter)


def register_step(meter: Meter) -> float:
    """One register step in canonical units (the most a reading can be off by)."""
    return 10.0 ** -register_decimals(meter) * conversion(meter)


def is_cumulative(meter: Meter) -> bool:
    return meter.register_kind is RegisterKind.CUMULATIVE
