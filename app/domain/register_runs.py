"""Step many meters' readings at once: ``registers.step`` over arrays.

A gateway batch holds runs of readings per meter. Nearly every reading is plain
(a register that rose by a plausible amount, an interval within its limit, a
power integrated over a short gap); those are judged here with array
arithmetic, in the same floating-point operations, in the same order, as
``registers.step``. Every other reading (the first of a meter, a drop, a jump,
a gap) is handed to ``registers.step`` itself, so there is one definition of
what a register event is and this module only decides, faster, when there is
none.

Times are integer microseconds since the Unix epoch (``micros``), so that
elapsed seconds are computed exactly as ``timedelta.total_seconds`` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from app.domain.registers import (
    MIN_WINDOW_S,
    RATE_SLACK,
    RegisterKind,
    RegisterPoint,
    RegisterSpec,
    Step,
    step,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def micros(time: datetime) -> int:
    """An aware time as integer microseconds since the Unix epoch (exact)."""
    return (time - EPOCH) // _MICROSECOND


def from_micros(us: int) -> datetime:
    """The aware UTC time of ``micros``."""
    return EPOCH + timedelta(microseconds=us)


@dataclass(frozen=True, slots=True)
class MeterRun:
    """One meter's readings in a batch: positions ``[start, stop)`` of the arrays.

    ``previous`` is the meter's stored reading just before ``start`` (``None``: none).
    """

    spec: RegisterSpec
    start: int
    stop: int
    previous: RegisterPoint | None


@dataclass(frozen=True)
class SteppedRuns:
    """The interval quantity of every reading of the runs.

    Attributes:
        quantity: canonical quantity per reading, NaN where unknown.
        quality: ``Quality`` flags per reading.
        previous_us: time of the reading before each one (its run's ``previous`` for
            the first), where ``has_previous``.
        previous_value: that reading's canonical value, where ``has_previous``.
        has_previous: False for a meter's first reading ever.
        elapsed_s: seconds since the previous reading (NaN where there is none).
        full: the readings ``registers.step`` judged, by position, with their step
            (first readings, drops, jumps, gaps: every register event is among them).
    """

    quantity: FloatArray
    quality: IntArray
    previous_us: IntArray
    previous_value: FloatArray
    has_previous: NDArray[np.bool_]
    elapsed_s: FloatArray
    full: dict[int, Step]


_KIND_CODE = {RegisterKind.CUMULATIVE: 0, RegisterKind.INTERVAL: 1, RegisterKind.INSTANTANEOUS: 2}


def step_runs(time_us: IntArray, value: FloatArray, runs: Sequence[MeterRun]) -> SteppedRuns:
    """``registers.step`` for every reading of ``runs``, each against the one before it.

    Args:
        time_us: reading times (``micros``), strictly increasing within each run.
        value: canonical register values or powers (finite, not negative).
        runs: the meters' runs, covering ``time_us`` without overlap.

    Raises:
        ValueError: a run's ``previous`` is not before its first reading, or the runs
            do not cover the arrays.
    """
    n = len(time_us)
    if sum(run.stop - run.start for run in runs) != n or len(value) != n:
        raise ValueError("the runs must cover the reading arrays exactly")
    prev_t = np.empty(n, np.int64)
    prev_v = np.empty(n, np.float64)
    prev_t[1:], prev_v[1:] = time_us[:-1], value[:-1]
    has_prev = np.ones(n, bool)
    kind = np.empty(n, np.int8)
    rate = np.empty(n, np.float64)
    max_gap = np.empty(n, np.float64)
    for run in runs:
        if run.start == run.stop:
            continue
        first = run.start
        if run.previous is None:
            has_prev[first] = False
            prev_t[first], prev_v[first] = time_us[first], 0.0
        else:
            prev_t[first], prev_v[first] = micros(run.previous.time), run.previous.value
            if prev_t[first] > time_us[first]:
                raise ValueError("a run's previous reading is after its first reading")
        spec = run.spec
        kind[first : run.stop] = _KIND_CODE[spec.kind]
        rate[first : run.stop] = (
            np.nan if spec.max_rate_per_hour is None else spec.max_rate_per_hour
        )
        max_gap[first : run.stop] = spec.max_gap_s

    elapsed_s = (time_us - prev_t) / 1e6
    elapsed_s[~has_prev] = np.nan
    # registers.plausible_max, same operations in the same order (NaN: no limit)
    allowed = rate * np.maximum(elapsed_s, MIN_WINDOW_S) / 3600 * RATE_SLACK
    with np.errstate(invalid="ignore"):
        rise = value - prev_v
        integrated = (prev_v + value) / 2 * elapsed_s / 3600
        cumulative = (kind == 0) & has_prev & (value >= prev_v) & ~(rise > allowed)
        interval = (kind == 1) & ~(has_prev & (value > allowed))
        instantaneous = (kind == 2) & has_prev & (elapsed_s <= max_gap) & ~(integrated > allowed)
    quantity = np.full(n, np.nan)
    quantity[cumulative] = rise[cumulative]
    quantity[interval] = value[interval]
    quantity[instantaneous] = integrated[instantaneous]
    quality = np.zeros(n, np.int64)

    full: dict[int, Step] = {}
    plain = cumulative | interval | instantaneous
    if not plain.all():
        spec_at = np.empty(n, np.intp)
        for index, run in enumerate(runs):
            spec_at[run.start : run.stop] = index
        for i in np.flatnonzero(~plain).tolist():
            before = (
                RegisterPoint(from_micros(int(prev_t[i])), float(prev_v[i]))
                if has_prev[i]
                else None
            )
            judged = step(
                before,
                RegisterPoint(from_micros(int(time_us[i])), float(value[i])),
                runs[spec_at[i]].spec,
            )
            full[i] = judged
            quantity[i] = np.nan if judged.quantity is None else judged.quantity
            quality[i] = int(judged.quality)
    return SteppedRuns(quantity, quality, prev_t, prev_v, has_prev, elapsed_s, full)
