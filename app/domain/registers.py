"""Meter registers: turn readings into interval quantities, safely.

A step attributes to the current reading the quantity consumed in
``(previous.time, current.time]``. Cumulative registers roll over, are reset
and are replaced; a drop never becomes negative consumption or a giant spike.
Every such event is reported, and estimated quantities are flagged.

Quantity unknown is ``None``, never a guess: a ``None`` interval shows up as a
flagged gap in figures, which is honest; an invented number would be summed
into CO₂ totals without anyone seeing it.

Callers own two things: duplicates (the same ``(meter, time)`` twice; two points
with equal times are not special-cased here, an unchanged value gives 0) and
ordering (``step`` refuses a previous point later than the current one; pass
the stored neighbour, and use ``resequence`` to recompute after a late reading).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntFlag, StrEnum
from typing import Final

RATE_SLACK: Final = 1.1
"""Headroom on ``max_rate_per_hour`` for timestamp jitter (gateways stamp late)."""

MIN_WINDOW_S: Final = 60.0
"""Plausibility is judged over at least this long, so register resolution and
jitter on second-by-second readings are not mistaken for implausible jumps."""

WRAP_RANGE_FRACTION: Final = 0.1
"""Without ``max_rate_per_hour``, a drop counts as a rollover only when the wrap
implies at most this fraction of the register range in one interval."""


class RegisterKind(StrEnum):
    """How a meter reports: a running total, a per-interval quantity or a power."""

    CUMULATIVE = "cumulative"
    INTERVAL = "interval"
    INSTANTANEOUS = "instantaneous"


class EventKind(StrEnum):
    """Register events worth recording for the energy manager."""

    ROLLOVER = "rollover"
    RESET = "reset"
    REPLACEMENT = "replacement"
    JUMP = "jump"
    GAP = "gap"


class Quality(IntFlag):
    """Flags stored with each interval quantity (an int column: values are fixed)."""

    GOOD = 0
    FIRST = 1
    ESTIMATED = 2
    ROLLOVER = 4
    RESET = 8
    REPLACEMENT = 16
    JUMP = 32
    GAP = 64
    LATE = 128  # set by callers for out-of-order readings


@dataclass(frozen=True)
class RegisterSpec:
    """How one meter's register behaves, in canonical units (multiplier applied).

    Attributes:
        kind: cumulative, interval or instantaneous.
        rollover_at: the register's modulus: the value at which it reads 0 again.
            A register showing 00000.0 to 99999.9 kWh has ``rollover_at=100000.0``.
        max_rate_per_hour: physically plausible maximum quantity per hour (e.g.
            1.5 x rated kW for kWh). Needed to judge jumps, resets and replacements.
        max_gap_s: longest gap over which instantaneous power is integrated.
        unit: canonical unit, used only in event texts.
    """

    kind: RegisterKind
    rollover_at: float | None = None
    max_rate_per_hour: float | None = None
    max_gap_s: float = 900.0
    unit: str = ""

    def __post_init__(self) -> None:
        if self.rollover_at is not None and not self.rollover_at > 0:
            raise ValueError(f"rollover_at must be positive, got {self.rollover_at}")
        if self.max_rate_per_hour is not None and not self.max_rate_per_hour > 0:
            raise ValueError(f"max_rate_per_hour must be positive, got {self.max_rate_per_hour}")
        if not self.max_gap_s > 0:
            raise ValueError(f"max_gap_s must be positive, got {self.max_gap_s}")


@dataclass(frozen=True)
class RegisterPoint:
    """One reading: an aware time and a finite, non-negative canonical value."""

    time: datetime
    value: float

    def __post_init__(self) -> None:
        if self.time.utcoffset() is None:
            raise ValueError(f"reading time must be timezone-aware, got {self.time!r}")
        if not math.isfinite(self.value) or self.value < 0:
            raise ValueError(f"reading value must be finite and >= 0, got {self.value}")


@dataclass(frozen=True)
class Step:
    """The interval quantity attributed to a reading.

    ``quantity`` is ``None`` when unknown and never negative.
    """

    quantity: float | None
    quality: Quality
    event: EventKind | None = None
    detail: str = ""


def plausible_max(spec: RegisterSpec, elapsed_s: float) -> float | None:
    """Largest quantity believable over ``elapsed_s`` (``None``: no limit configured)."""
    if spec.max_rate_per_hour is None:
        return None
    return spec.max_rate_per_hour * max(elapsed_s, MIN_WINDOW_S) / 3600 * RATE_SLACK


def step(previous: RegisterPoint | None, current: RegisterPoint, spec: RegisterSpec) -> Step:
    """The quantity consumed in ``(previous.time, current.time]``.

    Args:
        previous: the stored reading just before ``current``, or ``None`` if there is none.
        current: the reading to attribute a quantity to.
        spec: the meter's register behaviour.

    Raises:
        ValueError: ``previous`` is later than ``current``.
    """
    if previous is not None and previous.time > current.time:
        raise ValueError(
            f"previous reading at {previous.time.isoformat()} is after "
            f"current reading at {current.time.isoformat()}"
        )
    if spec.kind is RegisterKind.CUMULATIVE:
        return _cumulative(previous, current, spec)
    if spec.kind is RegisterKind.INTERVAL:
        return _interval(previous, current, spec)
    return _instantaneous(previous, current, spec)


def resequence(
    points: Sequence[RegisterPoint],
    spec: RegisterSpec,
    previous: RegisterPoint | None = None,
) -> list[Step]:
    """Steps for a time-ordered run of readings, one per point.

    The first point is stepped against ``previous`` (``None``: it is the first
    reading). After a late reading, pass it and the stored readings after it,
    with the stored reading before it as ``previous``.
    """
    steps: list[Step] = []
    for point in points:
        steps.append(step(previous, point, spec))
        previous = point
    return steps


def _fmt(value: float, unit: str) -> str:
    number = f"{value:.3f}".rstrip("0").rstrip(".")
    return f"{number} {unit}".rstrip()


def _jump(quantity: float, allowed: float, spec: RegisterSpec, what: str) -> Step:
    return Step(
        None,
        Quality.JUMP,
        EventKind.JUMP,
        f"{what} {_fmt(quantity, spec.unit)} exceeds the plausible "
        f"{_fmt(allowed, spec.unit)}: interval unknown",
    )


def plain_rise(
    previous_value: float, value: float, elapsed_s: float, spec: RegisterSpec
) -> float | None:
    """The interval quantity when a cumulative register simply rose by a plausible amount.

    ``None`` means "not that simple": call ``step`` for the full judgement. This is the
    case nearly every reading is in, checked without building points and steps.
    """
    if value < previous_value:
        return None
    delta = value - previous_value
    allowed = plausible_max(spec, elapsed_s)
    if allowed is not None and delta > allowed:
        return None
    return delta


def _cumulative(previous: RegisterPoint | None, current: RegisterPoint, spec: RegisterSpec) -> Step:
    if previous is None:
        return Step(None, Quality.FIRST, None, "first reading: no interval yet")
    elapsed_s = (current.time - previous.time).total_seconds()
    rise = plain_rise(previous.value, current.value, elapsed_s, spec)
    if rise is not None:
        return Step(rise, Quality.GOOD)
    allowed = plausible_max(spec, elapsed_s)
    if current.value >= previous.value:
        delta = current.value - previous.value
        if allowed is not None and delta > allowed:
            # A replacement meter with a higher start, a misread register or a
            # wrong multiplier: the true consumption is unknown, not ``allowed``.
            return _jump(delta, allowed, spec, "register rose by")
        return Step(delta, Quality.GOOD)
    return _drop(previous.value, current.value, allowed, spec)


def _drop(prev: float, cur: float, allowed: float | None, spec: RegisterSpec) -> Step:
    dropped = f"register dropped from {_fmt(prev, '')} to {_fmt(cur, spec.unit)}"
    if spec.rollover_at is not None and prev <= spec.rollover_at and cur < spec.rollover_at:
        wrapped = spec.rollover_at - prev + cur
        limit = spec.rollover_at * WRAP_RANGE_FRACTION if allowed is None else allowed
        if wrapped <= limit:
            return Step(
                wrapped,
                Quality.ROLLOVER,
                EventKind.ROLLOVER,
                f"{dropped}: counted as rollover at {_fmt(spec.rollover_at, spec.unit)}, "
                f"{_fmt(wrapped, spec.unit)} consumed",
            )
    if allowed is None:
        return Step(
            None,
            Quality.RESET,
            EventKind.RESET,
            f"{dropped}: reset or replacement; without max_rate_per_hour the "
            "consumption since is unknown",
        )
    if cur <= allowed:
        # Consumption between the last reading and the reset is lost, and the
        # reset may not have been to exactly 0: the value is a best estimate.
        return Step(
            cur,
            Quality.RESET | Quality.ESTIMATED,
            EventKind.RESET,
            f"{dropped}: counted as reset, {_fmt(cur, spec.unit)} since reset",
        )
    # A new meter with an unrelated starting value: the old meter's last
    # consumption and the new one's start are both unknown.
    return Step(
        None,
        Quality.REPLACEMENT,
        EventKind.REPLACEMENT,
        f"{dropped}: counted as meter replacement, interval unknown",
    )


def _interval(previous: RegisterPoint | None, current: RegisterPoint, spec: RegisterSpec) -> Step:
    if previous is not None:
        allowed = plausible_max(spec, (current.time - previous.time).total_seconds())
        if allowed is not None and current.value > allowed:
            return _jump(current.value, allowed, spec, "interval reading")
    return Step(current.value, Quality.GOOD)


def _instantaneous(
    previous: RegisterPoint | None, current: RegisterPoint, spec: RegisterSpec
) -> Step:
    if previous is None:
        return Step(None, Quality.FIRST, None, "first reading: no interval yet")
    elapsed_s = (current.time - previous.time).total_seconds()
    if elapsed_s > spec.max_gap_s:
        return Step(
            None,
            Quality.GAP,
            EventKind.GAP,
            f"{elapsed_s:.0f} s since the last reading exceeds {spec.max_gap_s:.0f} s: "
            "interval unknown",
        )
    quantity = (previous.value + current.value) / 2 * elapsed_s / 3600
    allowed = plausible_max(spec, elapsed_s)
    if allowed is not None and quantity > allowed:
        return _jump(quantity, allowed, spec, "integrated")
    return Step(quantity, Quality.GOOD)
