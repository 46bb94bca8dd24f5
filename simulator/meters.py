"""What the meters report: registers, reading times and misbehaviour.

A ``MeterChannel`` integrates its meter's true rate into a true total, reads
its register at each reading time and decides whether and when the reading
reaches the broker. The true total is never touched by register faults, so a
test can compare what was reported with what happened.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from app.domain.plant import Meter
from app.domain.registers import RegisterKind
from app.domain.units import Dimension, parse_unit
from simulator.noise import Noise
from simulator.options import SimOptions
from simulator.profiles import size_per_hour

MS_PER_HOUR: Final = 3_600_000

CANONICAL_RESOLUTION: Final = {
    Dimension.ENERGY: 0.01,  # kWh
    Dimension.VOLUME: 0.001,  # m³
    Dimension.COUNT: 1.0,  # unit
    Dimension.POWER: 0.1,  # kW
}
"""Register resolution in canonical units when the rollover does not fix it."""


@dataclass(frozen=True, slots=True)
class SimReading:
    """One reading as a meter sends it, with the truth beside it for test oracles.

    Attributes:
        site_id, meter_id, gateway: who sent it (the gateway names its batch topic).
        time: measurement instant, in the site's timezone.
        value: the register as the meter reports it, in ``unit`` (before the multiplier).
        unit: the meter's configured unit.
        seq: per-meter sequence number; gaps mean readings that were never sent.
        true_quantity: canonical quantity truly consumed in ``(since, time]``, where
            ``since`` is the meter's previous measurement (sent or not).
        since: start of ``true_quantity``'s window.
        true_total: canonical quantity since the simulation start, at ``time``.
        true_rate: canonical rate at ``time`` (kW, m³/h, unit/h).
        sent_at: when the reading reaches the broker (later than ``time`` for
            store-and-forward and duplicates).
        tags: what happened: "reset", "replacement", "rollover", "late", "duplicate".
    """

    site_id: str
    meter_id: str
    gateway: str
    time: datetime
    value: float
    unit: str
    seq: int
    true_quantity: float
    since: datetime
    true_total: float
    true_rate: float
    sent_at: datetime
    tags: frozenset[str] = frozenset()


Emit = Callable[[int, int, int, SimReading], None]
"""``emit(sent_ms, order, copy, reading)``: hand a reading to the outgoing queue."""


def gateway_for(meter: Meter) -> str:
    """Meters of one area share a gateway."""
    return f"gw-{meter.area}"


def register_decimals(meter: Meter) -> int:
    """Digits after the decimal point the register shows: 2 for kWh, 0 for Wh, 3 for m³...

    The multiplier does not change the display: a CT-ratio meter shows secondary
    kWh to two decimals, each step worth ``0.01 x multiplier`` kWh.
    """
    unit = parse_unit(meter.unit)
    raw_resolution = CANONICAL_RESOLUTION[unit.dimension] / unit.factor
    return min(4, max(0, math.ceil(-math.log10(raw_resolution) - 1e-9)))


def _ms_to_datetime(ms: int, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, zone)


def _hour_window(
    noise: Noise, channel: int, hour: int, per_day: float, bounds_s: tuple[float, float]
) -> tuple[int, int] | None:
    """The fault window (start, end in ms) hour ``hour`` starts, if it starts one."""
    if per_day <= 0 or noise.uniform(channel, hour) >= min(1.0, per_day / 24):
        return None
    low, high = bounds_s
    start = hour * MS_PER_HOUR + int(noise.uniform(channel + 1, hour) * MS_PER_HOUR)
    return start, start + int((low + (high - low) * noise.uniform(channel + 2, hour)) * 1000)


def fault_window(
    noise: Noise, channel: int, t_ms: int, per_day: float, bounds_s: tuple[float, float]
) -> tuple[int, int] | None:
    """The hashed fault window (start, end in ms) containing ``t_ms``, if any.

    Each hour may start one window with probability ``per_day / 24``; windows
    last at most an hour, so only this hour's and the previous one's can cover ``t_ms``.
    """
    hour = t_ms // MS_PER_HOUR
    for h in (hour, hour - 1):
        window = _hour_window(noise, channel, h, per_day, bounds_s)
        if window is not None and window[0] <= t_ms < window[1]:
            return window
    return None


def fault_windows(
    noise: Noise,
    channel: int,
    start_ms: int,
    end_ms: int,
    per_day: float,
    bounds_s: tuple[float, float],
) -> list[tuple[int, int]]:
    """Every hashed fault window overlapping ``[start_ms, end_ms)``, in time order."""
    found = []
    for hour in range(start_ms // MS_PER_HOUR - 1, end_ms // MS_PER_HOUR + 1):
        window = _hour_window(noise, channel, hour, per_day, bounds_s)
        if window is not None and window[0] < end_ms and window[1] > start_ms:
            found.append(window)
    return found


@dataclass
class MeterChannel:
    """One meter's register, schedule and faults."""

    meter: Meter
    site_id: str
    zone: ZoneInfo
    order: int
    start_ms: int
    options: SimOptions
    noise: Noise
    gateway_noise: Noise
    offline: list[tuple[int, int]] = field(default_factory=list)
    resume_at: float | None = None
    """Canonical register value to continue from (a cumulative register kept by the
    plant, e.g. the ingester's ``meter_state``); ``None`` starts the register afresh."""

    def __post_init__(self) -> None:
        self.gateway = gateway_for(self.meter)
        self.kind = self.meter.register_kind
        self.interval_ms = max(1, round(self.meter.expected_interval_s * 1000))
        self.jitter_ms = int(self.interval_ms * self.options.jitter_fraction)
        self.conversion = self.meter.multiplier * parse_unit(self.meter.unit).factor
        self.decimals = register_decimals(self.meter)
        self.resolution = 10.0**-self.decimals
        rollover = self.meter.rollover if self.kind is RegisterKind.CUMULATIVE else None
        self.rollover_counts = round(rollover / self.resolution) if rollover else None
        self.reading_chance = self.meter.expected_interval_s / 86400
        # state
        # canonical total since the simulation start, at ``base_ms`` (the last tick
        # boundary passed): partial ticks never add up, so chunking cannot change a bit
        self.base_total = 0.0
        self.base_ms = self.start_ms
        self.last_time = _ms_to_datetime(self.start_ms, self.zone)
        self.last_total = 0.0
        self.seq = 0
        self.k = self.start_ms // self.interval_ms
        while self.slot_ms(self.k) <= self.start_ms:
            self.k += 1
        self.next_ms = self.slot_ms(self.k)
        self.raw_offset = self._initial_register(rollover)
        self.last_wraps = self._counts(self.raw_offset)[1]
        self.interval_counts = 0

    def _initial_register(self, rollover: float | None) -> float:
        """Raw register value at the simulation start.

        A resumed cumulative register shows exactly what it showed when the plant was
        left (to the register's resolution): a restart is not a reset or a replacement.
        """
        if self.resume_at is not None and self.kind is RegisterKind.CUMULATIVE:
            raw = round(max(0.0, self.resume_at) / self.conversion, self.decimals)
            return raw % rollover if rollover else raw
        u = self.noise.uniform(1)
        if rollover is None:
            return 0.0 if self.kind is not RegisterKind.CUMULATIVE else (0.05 + 0.5 * u) * 1e6
        if self.options.near_rollover:
            hours = 0.25 + 1.75 * u  # wraps within the first two hours or so
            return max(0.0, rollover - 0.5 * size_per_hour(self.meter) * hours / self.conversion)
        return (0.05 + 0.5 * u) * rollover

    def slot_ms(self, k: int) -> int:
        """When the k-th reading is taken: on the interval grid, stamped a little late."""
        return k * self.interval_ms + int(self.noise.uniform(2, k) * self.jitter_ms)

    def _counts(self, unwrapped: float) -> tuple[int, int]:
        counts = math.floor(unwrapped / self.resolution + 1e-6)
        if self.rollover_counts is None:
            return counts, 0
        return counts % self.rollover_counts, counts // self.rollover_counts

    def run(self, t1_ms: int, tick_end_ms: int, rate: float, emit: Emit) -> None:
        """Take the readings due up to ``t1_ms`` while the meter's true rate is ``rate``.

        ``rate`` holds from the last tick boundary to ``tick_end_ms``; reaching that
        boundary moves the integration base to it.
        """
        per_ms = rate / MS_PER_HOUR
        while self.next_ms <= t1_ms:
            at = self.next_ms
            self._read(at, self.base_total + per_ms * (at - self.base_ms), rate, emit)
            self.k += 1
            self.next_ms = self.slot_ms(self.k)
        if t1_ms >= tick_end_ms:
            self.base_total += per_ms * (tick_end_ms - self.base_ms)
            self.base_ms = tick_end_ms

    def _read(self, at: int, total: float, rate: float, emit: Emit) -> None:
        quantity = total - self.last_total
        tags: set[str] = set()
        value = self._register(at, total, quantity, rate, tags)
        self.seq += 1
        since = self.last_time
        measured = _ms_to_datetime(at, self.zone)
        self.last_total, self.last_time = total, measured
        if self._silent(at):
            return
        sent = at
        sent_at = measured
        options = self.options
        if options.late_bursts_per_gateway_day > 0:
            hold = fault_window(
                self.gateway_noise, 10, at, options.late_bursts_per_gateway_day,
                options.late_burst_s,
            )  # fmt: skip
            if hold is not None:
                # released with the rest of the gateway's store, in no particular order
                sent = hold[1] + int(self.noise.uniform(3, self.k) * 3000)
                sent_at = _ms_to_datetime(sent, self.zone)
                tags.add("late")
        reading = SimReading(
            site_id=self.site_id,
            meter_id=self.meter.id,
            gateway=self.gateway,
            time=measured,
            value=value,
            unit=self.meter.unit,
            seq=self.seq,
            true_quantity=quantity,
            since=since,
            true_total=total,
            true_rate=rate,
            sent_at=sent_at,
            tags=frozenset(tags),
        )
        emit(sent, self.order, 0, reading)
        duplicates = self.options.duplicate_fraction
        if duplicates > 0 and self.noise.uniform(4, self.k) < duplicates:
            again = sent + 1000 + int(self.noise.uniform(5, self.k) * 30000)
            emit(
                again,
                self.order,
                1,
                _replace_sent(reading, _ms_to_datetime(again, self.zone), tags | {"duplicate"}),
            )

    def silences(self, start_ms: int, end_ms: int) -> list[tuple[int, int, str]]:
        """When this meter's readings do not reach the broker on time, in ``[start, end)``:
        ``(start_ms, end_ms, cause)`` with cause "offline" (injected), "dropout" or
        "held" (its gateway stores and forwards)."""
        options = self.options
        found = [(s, e, "offline") for s, e in self.offline if s < end_ms and e > start_ms]
        found += [
            (s, e, "dropout")
            for s, e in fault_windows(
                self.noise, 20, start_ms, end_ms, options.dropouts_per_meter_day, options.dropout_s
            )
        ]
        found += [
            (s, e, "held")
            for s, e in fault_windows(
                self.gateway_noise,
                10,
                start_ms,
                end_ms,
                options.late_bursts_per_gateway_day,
                options.late_burst_s,
            )
        ]
        return sorted(found)

    def _silent(self, at: int) -> bool:
        for start, end in self.offline:
            if start <= at < end:
                return True
        if self.options.dropouts_per_meter_day <= 0:
            return False
        window = fault_window(
            self.noise, 20, at, self.options.dropouts_per_meter_day, self.options.dropout_s
        )
        return window is not None

    def _register(
        self, at: int, total: float, quantity: float, rate: float, tags: set[str]
    ) -> float:
        if self.kind is RegisterKind.INSTANTANEOUS:
            return round(rate / self.conversion, self.decimals)
        if self.kind is RegisterKind.INTERVAL:
            counts = math.floor(total / self.conversion / self.resolution + 1e-6)
            value = (counts - self.interval_counts) * self.resolution
            self.interval_counts = counts
            return round(value, self.decimals)
        # cumulative: resets and replacements happen somewhere in the last interval
        options = self.options
        reset_chance = options.resets_per_meter_day * self.reading_chance
        replace_chance = options.replacements_per_meter_day * self.reading_chance
        u = self.noise.uniform(6, self.k) if reset_chance or replace_chance else 1.0
        if u < reset_chance + replace_chance:
            since_event = self.noise.uniform(7, self.k) * quantity / self.conversion
            if u < reset_chance:
                self.raw_offset = since_event - total / self.conversion
                tags.add("reset")
            else:
                new_start = self.noise.uniform(8, self.k) * 5000.0
                self.raw_offset = new_start + since_event - total / self.conversion
                tags.add("replacement")
        counts, wraps = self._counts(self.raw_offset + total / self.conversion)
        if wraps != self.last_wraps and not tags:
            tags.add("rollover")
        self.last_wraps = wraps
        return round(counts * self.resolution, self.decimals)


def _replace_sent(reading: SimReading, sent_at: datetime, tags: set[str]) -> SimReading:
    return replace(reading, sent_at=sent_at, tags=frozenset(tags))
