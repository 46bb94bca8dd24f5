"""Injected events: consumption spikes, meters offline, PV inverter trips.

``Injection`` is the form the CLI parses (offsets from the simulation's "now");
the simulator takes absolute windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class InjectionKind(StrEnum):
    SPIKE = "spike"
    OFFLINE = "offline"
    TRIP = "trip"


@dataclass(frozen=True)
class Injection:
    """An event relative to a start instant.

    Attributes:
        kind: spike, offline or trip.
        target: meter id (spike: meter or area id).
        start_offset_s: seconds after the start instant (negative: in the backfill).
        duration_s: how long it lasts.
        factor: spike multiplier on the true consumption (spikes only).
    """

    kind: InjectionKind
    target: str
    start_offset_s: float
    duration_s: float
    factor: float = 1.0

    def __post_init__(self) -> None:
        if not self.duration_s > 0:
            raise ValueError(f"duration must be positive, got {self.duration_s}")
        if self.kind is InjectionKind.SPIKE and not self.factor > 0:
            raise ValueError(f"spike factor must be positive, got {self.factor}")

    def window(self, origin: datetime) -> tuple[datetime, timedelta]:
        return origin + timedelta(seconds=self.start_offset_s), timedelta(seconds=self.duration_s)


def parse_spike(text: str) -> Injection:
    """``METER_OR_AREA:FACTOR:START_OFFSET_S:DURATION_S``, e.g. ``el-comp-01:3:60:600``."""
    parts = text.split(":")
    if len(parts) != 4:
        raise ValueError(f"spike {text!r}: expected METER_OR_AREA:FACTOR:START_OFFSET_S:DURATION_S")
    target, factor, start, duration = parts
    try:
        return Injection(
            InjectionKind.SPIKE, target, float(start), float(duration), factor=float(factor)
        )
    except ValueError as exc:
        raise ValueError(f"spike {text!r}: {exc}") from None


def parse_window(kind: InjectionKind, text: str) -> Injection:
    """``METER:START_OFFSET_S:DURATION_S``, e.g. ``pv-inv-03:0:1800``."""
    parts = text.split(":")
    if len(parts) != 3:
        raise ValueError(f"{kind.value} {text!r}: expected METER:START_OFFSET_S:DURATION_S")
    target, start, duration = parts
    try:
        return Injection(kind, target, float(start), float(duration))
    except ValueError as exc:
        raise ValueError(f"{kind.value} {text!r}: {exc}") from None
