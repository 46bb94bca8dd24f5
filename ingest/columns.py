"""A batch of readings as arrays: per meter in time order, and stepped, ready to store.

The writer's hot path works on columns (numpy arrays, one position per reading)
rather than on one object per reading; these are the shapes it passes around.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from math import isnan
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from app.domain.plant import Meter
from app.domain.register_runs import from_micros, micros
from app.domain.registers import RegisterSpec, Step
from app.domain.units import parse_unit
from ingest import pgcopy
from ingest.decode import DecodedReading


class Row(NamedTuple):
    """A reading ready to store, in the column order of ``readings`` COPY (``ingest.writer``)."""

    meter_id: str
    time: datetime
    raw_value: float
    raw_unit: str
    value: float
    quantity: float | None
    quality: int
    seq: int | None


@dataclass(frozen=True)
class MeterInfo:
    """What the writer needs to know of one meter."""

    site_id: str
    meter: Meter
    spec: RegisterSpec
    zone: ZoneInfo
    expected_us: int  # expected_interval_s in microseconds


@dataclass(frozen=True)
class Columns:
    """Readings as arrays, one position per reading."""

    readings: list[DecodedReading]
    time_us: NDArray[np.int64]
    raw: NDArray[np.float64]  # raw_value
    unit: NDArray[np.intp]  # raw_unit, as a position in ``units``
    units: list[str]
    seq: NDArray[np.int64]  # -1: none
    value: NDArray[np.float64]  # canonical: multiplier and unit factor applied

    def take(self, positions: NDArray[np.intp]) -> Columns:
        return Columns(
            [self.readings[i] for i in positions.tolist()],
            self.time_us[positions],
            self.raw[positions],
            self.unit[positions],
            self.units,
            self.seq[positions],
            self.value[positions],
        )


@dataclass(frozen=True)
class SortedBatch:
    """A batch's readings per meter in time order, repeats of (meter, time) removed.

    ``runs`` are (meter id, start, stop) slices of ``columns``.
    """

    columns: Columns
    runs: list[tuple[str, int, int]]


@dataclass(frozen=True)
class Fresh:
    """Stepped readings ready to store: ``meter`` indexes ``meter_ids``."""

    columns: Columns
    meter_ids: list[str]
    meter: NDArray[np.intp]
    quantity: NDArray[np.float64]  # NaN: unknown
    quality: NDArray[np.int64]

    def copy_data(self, now: datetime) -> bytes:
        """The rows as one binary COPY stream, in ``ingest.writer._READING_COLUMNS`` order."""
        c = self.columns
        n = len(c.readings)
        return pgcopy.encode(
            [
                pgcopy.Text(self.meter_ids, self.meter),
                pgcopy.Fixed("timestamptz", c.time_us),
                pgcopy.Fixed("float8", c.raw),
                pgcopy.Text(c.units, c.unit),
                pgcopy.Fixed("float8", c.value),
                pgcopy.Fixed("float8", self.quantity, np.isnan(self.quantity)),
                pgcopy.Fixed("int2", self.quality),
                pgcopy.Fixed("int4", c.seq, c.seq < 0),
                pgcopy.Fixed("timestamptz", np.full(n, micros(now), np.int64)),
            ],
            n,
        )

    def params(self, now: datetime) -> list[dict[str, Any]]:
        """The rows as statement parameters (SQLite)."""
        c = self.columns
        return [
            row_params(
                Row(
                    self.meter_ids[m],
                    from_micros(t),
                    raw,
                    c.units[u],
                    v,
                    None if isnan(q) else q,
                    f,
                    None if seq < 0 else seq,
                ),
                now,
            )
            for m, t, raw, u, v, q, f, seq in zip(
                self.meter.tolist(),
                c.time_us.tolist(),
                c.raw.tolist(),
                c.unit.tolist(),
                c.value.tolist(),
                self.quantity.tolist(),
                self.quality.tolist(),
                c.seq.tolist(),
                strict=True,
            )
        ]


@cache
def unit_factor(unit: str) -> float:
    return parse_unit(unit).factor


def row_params(row: Row, now: datetime) -> dict[str, Any]:
    """A row as statement parameters for ``readings``."""
    return {**row._asdict(), "received_at": now}


def sort_readings(
    readings: Sequence[DecodedReading],
    meter_index: dict[str, int],
    multipliers: NDArray[np.float64],
) -> tuple[SortedBatch, int]:
    """The batch per meter in time order, and how many in-batch repeats were dropped.

    Of readings repeating a (meter, time), the first received is kept.

    Args:
    readings: as decoded.
    meter_index: the plant's meter ids, each to its position in ``multipliers``.
    multipliers: each meter's multiplier (CT/VT ratio, pulse weight).
    """
    n = len(readings)
    index = meter_index
    try:
        meter = np.fromiter((index[r.meter_id] for r in readings), np.intp, n)
    except KeyError as exc:
        raise ValueError(f"meter {exc.args[0]!r} is not in the plant (decoder bug)") from None
    time_us = np.fromiter((r.time_us for r in readings), np.int64, n)
    order = np.lexsort((time_us, meter))  # stable: repeats keep their arrival order
    meter, time_us = meter[order], time_us[order]
    keep = np.ones(n, bool)
    keep[1:] = (meter[1:] != meter[:-1]) | (time_us[1:] != time_us[:-1])
    if not keep.all():
        order, meter, time_us = order[keep], meter[keep], time_us[keep]
    ordered = [readings[i] for i in order.tolist()]
    kept = len(ordered)
    raw = np.fromiter((r.raw_value for r in ordered), np.float64, kept)
    units: dict[str, int] = {}
    unit = np.fromiter((units.setdefault(r.raw_unit, len(units)) for r in ordered), np.intp, kept)
    seq = np.fromiter((-1 if r.seq is None else r.seq for r in ordered), np.int64, kept)
    # the decoder has checked the unit is compatible (e.g. Wh for a kWh meter)
    factor = np.array([unit_factor(u) for u in units], np.float64)
    value = raw * multipliers[meter] * factor[unit]
    changes = np.flatnonzero(meter[1:] != meter[:-1]) + 1
    bounds = [0, *changes.tolist(), kept] if kept else []
    ids = list(meter_index)
    runs = [(ids[meter[a]], a, b) for a, b in itertools.pairwise(bounds)]
    columns = Columns(ordered, time_us, raw, unit, list(units), seq, value)
    return SortedBatch(columns, runs), n - kept


def event_row(
    meter_id: str,
    time: datetime,
    value: float,
    this_step: Step,
    previous_value: float | None,
    now: datetime,
) -> dict[str, Any]:
    """A meter_events row for a step that found a register event."""
    assert this_step.event is not None
    return {
        "meter_id": meter_id,
        "time": time,
        "kind": this_step.event.value,
        "previous_value": previous_value,
        "value": value,
        "detail": this_step.detail,
        "recorded_at": now,
    }
