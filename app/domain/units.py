"""Unit tables: normalise what meters send to kWh, kW, m³ and "unit".

Pure tables in the style of Home Assistant's ``unit_conversion.py``.

Spelling rule, applied in this order:

1. Surrounding whitespace is stripped, then the symbol must match a spelling in
   ``UNITS`` exactly (``kWh``, ``MW``, ``m³``...).
2. Otherwise it may match one entry of the explicit ``ALIASES`` table, which
   lists the spellings real gateways send (``kwh``, ``KWH``, ``KW``, ``M3``...).

Symbols are never lower- or upper-cased wholesale: ``mW`` (milliwatt) and
``MW`` (megawatt) differ by a factor of 10⁹ and a plant meter never reports
milliwatts, so ``mW``, ``mw``, ``mWh``, ``mwh``, ``mj`` and ``mJ`` are rejected
rather than guessed. All-caps ``MWH`` is accepted as MWh because a gateway that
upper-cases everything cannot have meant milliwatt-hours.

Gas volume: ``Nm3``/``Nm³`` (normal cubic metre, 0 °C and 1.01325 bar) is
treated as m³ with factor 1. GreenPulse assumes a gas meter's volume is
already corrected to normal conditions by the meter or its volume corrector;
no temperature or pressure correction is applied here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final


class Dimension(StrEnum):
    """The physical quantity a unit measures."""

    ENERGY = "energy"
    POWER = "power"
    VOLUME = "volume"
    COUNT = "count"


CANONICAL_UNIT: Final[Mapping[Dimension, str]] = MappingProxyType(
    {
        Dimension.ENERGY: "kWh",
        Dimension.POWER: "kW",
        Dimension.VOLUME: "m3",
        Dimension.COUNT: "unit",
    }
)


@dataclass(frozen=True)
class Unit:
    """An accepted unit: ``value * factor`` is the value in the canonical unit."""

    symbol: str
    dimension: Dimension
    factor: float


_KWH_PER_MJ: Final = 1 / 3.6  # 1 kWh = 3.6 MJ exactly


def _table(*units: Unit) -> Mapping[str, Unit]:
    return MappingProxyType({unit.symbol: unit for unit in units})


UNITS: Final[Mapping[str, Unit]] = _table(
    Unit("Wh", Dimension.ENERGY, 0.001),
    Unit("kWh", Dimension.ENERGY, 1.0),
    Unit("MWh", Dimension.ENERGY, 1000.0),
    Unit("MJ", Dimension.ENERGY, _KWH_PER_MJ),
    Unit("GJ", Dimension.ENERGY, 1000 * _KWH_PER_MJ),
    Unit("W", Dimension.POWER, 0.001),
    Unit("kW", Dimension.POWER, 1.0),
    Unit("MW", Dimension.POWER, 1000.0),
    Unit("m3", Dimension.VOLUME, 1.0),
    Unit("m³", Dimension.VOLUME, 1.0),
    Unit("Nm3", Dimension.VOLUME, 1.0),
    Unit("Nm³", Dimension.VOLUME, 1.0),
    Unit("L", Dimension.VOLUME, 0.001),
    Unit("l", Dimension.VOLUME, 0.001),
    Unit("unit", Dimension.COUNT, 1.0),
    Unit("units", Dimension.COUNT, 1.0),
    Unit("pcs", Dimension.COUNT, 1.0),
    Unit("count", Dimension.COUNT, 1.0),
)

ALIASES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "wh": "Wh",
        "WH": "Wh",
        "kwh": "kWh",
        "KWH": "kWh",
        "KWh": "kWh",
        "Kwh": "kWh",
        "MWH": "MWh",
        "gj": "GJ",
        "w": "W",
        "kw": "kW",
        "KW": "kW",
        "Kw": "kW",
        "M3": "m3",
        "m^3": "m3",
        "NM3": "Nm3",
        "nm3": "Nm3",
        "Nm^3": "Nm3",
        "UNIT": "unit",
        "Units": "units",
        "UNITS": "units",
        "pc": "pcs",
        "PCS": "pcs",
        "Pcs": "pcs",
    }
)


class UnknownUnitError(ValueError):
    """A meter sent a unit GreenPulse does not accept."""

    def __init__(self, unit: str) -> None:
        self.unit = unit
        hint = ""
        folded = unit.strip().casefold()
        if folded and any(symbol.casefold() == folded for symbol in UNITS):
            hint = " (case matters for SI prefixes: 'MW' is megawatt, 'mW' is not accepted)"
        super().__init__(
            f"unknown unit {unit!r}{hint}; accepted units: {', '.join(accepted_units())}"
        )


class UnitMismatchError(ValueError):
    """A reading's unit measures a different dimension than the meter's configured unit."""

    def __init__(self, sent: Unit, configured: Unit) -> None:
        self.sent = sent
        self.configured = configured
        super().__init__(
            f"unit {sent.symbol!r} ({sent.dimension.value}) does not match the meter's "
            f"configured unit {configured.symbol!r} ({configured.dimension.value})"
        )


def accepted_units(dimension: Dimension | None = None) -> list[str]:
    """Spellings accepted exactly (aliases aside), optionally of one dimension."""
    return [
        symbol for symbol, unit in UNITS.items() if dimension is None or unit.dimension is dimension
    ]


def parse_unit(unit: str) -> Unit:
    """The table entry for a unit spelling (an alias resolves to its table entry).

    Raises:
        UnknownUnitError: the spelling is neither in ``UNITS`` nor in ``ALIASES``.
    """
    symbol = unit.strip()
    found = UNITS.get(symbol)
    if found is None and symbol in ALIASES:
        found = UNITS[ALIASES[symbol]]
    if found is None:
        raise UnknownUnitError(unit)
    return found


def to_canonical(value: float, unit: str) -> float:
    """``value`` in ``unit`` expressed in its dimension's canonical unit."""
    return value * parse_unit(unit).factor


def check_compatible(sent: str, configured: str) -> None:
    """Check a reading's unit measures what the meter is configured to measure.

    Raises:
        UnknownUnitError: either unit is unknown.
        UnitMismatchError: the units measure different dimensions (e.g. "m3" for a kWh meter).
    """
    sent_unit = parse_unit(sent)
    configured_unit = parse_unit(configured)
    if sent_unit.dimension is not configured_unit.dimension:
        raise UnitMismatchError(sent_unit, configured_unit)


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """``value`` in ``from_unit`` expressed in ``to_unit`` (same dimension only).

    Raises:
        UnknownUnitError: either unit is unknown.
        UnitMismatchError: the units measure different dimensions.
    """
    source = parse_unit(from_unit)
    target = parse_unit(to_unit)
    if source.dimension is not target.dimension:
        raise UnitMismatchError(source, target)
    if source.factor == target.factor:
        return value
    return value * source.factor / target.factor
