"""Stepping many runs as arrays gives exactly what ``registers.step`` gives, reading by reading."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.register_runs import MeterRun, from_micros, micros, step_runs
from app.domain.registers import (
    EventKind,
    Quality,
    RegisterKind,
    RegisterPoint,
    RegisterSpec,
    step,
)

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
CUMULATIVE = RegisterSpec(
    RegisterKind.CUMULATIVE, rollover_at=100_000.0, max_rate_per_hour=600.0, unit="kWh"
)


def arrays(points: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """(minutes after T0, value) pairs as the micros and value arrays."""
    return (
        np.array([micros(T0 + timedelta(minutes=m)) for m, _ in points], np.int64),
        np.array([v for _, v in points], np.float64),
    )


def test_micros_round_trip_is_exact() -> None:
    t = datetime(2026, 3, 29, 1, 59, 59, 999_999, tzinfo=UTC)
    assert micros(t) == 1_774_749_599_999_999
    assert from_micros(micros(t)) == t


def test_a_plain_run_needs_no_full_step() -> None:
    time_us, value = arrays([(1, 105.0), (2, 109.5), (3, 109.5)])
    previous = RegisterPoint(T0, 100.0)
    stepped = step_runs(time_us, value, [MeterRun(CUMULATIVE, 0, 3, previous)])
    assert stepped.quantity.tolist() == [5.0, 4.5, 0.0]
    assert stepped.quality.tolist() == [0, 0, 0]
    assert stepped.elapsed_s.tolist() == [60.0, 60.0, 60.0]
    assert stepped.full == {}


def test_first_reading_rollover_and_jump_are_judged_by_step() -> None:
    time_us, value = arrays([(0, 99_995.0), (1, 2.0), (2, 50_000.0), (3, 50_004.0)])
    stepped = step_runs(time_us, value, [MeterRun(CUMULATIVE, 0, 4, None)])
    assert sorted(stepped.full) == [0, 1, 2]
    assert stepped.full[0].quality is Quality.FIRST
    assert stepped.full[1].event is EventKind.ROLLOVER
    assert stepped.quantity[1] == pytest.approx(7.0)
    assert stepped.full[2].event is EventKind.JUMP
    assert math.isnan(stepped.quantity[0]) and math.isnan(stepped.quantity[2])
    assert stepped.quantity[3] == 4.0
    assert stepped.quality.tolist() == [Quality.FIRST, Quality.ROLLOVER, Quality.JUMP, 0]


def test_runs_of_different_meters_do_not_step_against_each_other() -> None:
    power = RegisterSpec(RegisterKind.INSTANTANEOUS, max_rate_per_hour=100.0, max_gap_s=300)
    interval = RegisterSpec(RegisterKind.INTERVAL, max_rate_per_hour=60.0)
    time_us, value = arrays([(1, 120.0), (2, 121.0), (1, 60.0), (2, 30.0), (1, 0.5), (5, 0.5)])
    runs = [
        MeterRun(CUMULATIVE, 0, 2, RegisterPoint(T0, 100.0)),
        MeterRun(power, 2, 4, RegisterPoint(T0, 60.0)),
        MeterRun(interval, 4, 6, None),
    ]
    stepped = step_runs(time_us, value, runs)
    # 20 kWh in a minute exceeds 600 kWh/h (11 kWh a minute with slack): a jump
    assert stepped.full[0].event is EventKind.JUMP
    assert stepped.quantity[1] == 1.0
    assert stepped.quantity[2] == pytest.approx(1.0)  # 60 kW for a minute
    assert stepped.quantity[3] == pytest.approx(0.75)  # (60 + 30) / 2 kW for a minute
    assert stepped.quantity[4:].tolist() == [0.5, 0.5]
    assert stepped.has_previous.tolist() == [True, True, True, True, False, True]


def test_the_runs_must_cover_the_arrays() -> None:
    time_us, value = arrays([(1, 1.0), (2, 2.0)])
    with pytest.raises(ValueError, match="cover"):
        step_runs(time_us, value, [MeterRun(CUMULATIVE, 0, 1, None)])


def test_a_previous_reading_after_the_run_is_refused() -> None:
    time_us, value = arrays([(1, 1.0)])
    late = RegisterPoint(T0 + timedelta(minutes=2), 0.0)
    with pytest.raises(ValueError, match="after"):
        step_runs(time_us, value, [MeterRun(CUMULATIVE, 0, 1, late)])


specs = st.builds(
    RegisterSpec,
    kind=st.sampled_from(list(RegisterKind)),
    rollover_at=st.one_of(st.none(), st.sampled_from([1_000.0, 100_000.0, 1e9])),
    max_rate_per_hour=st.one_of(st.none(), st.floats(0.5, 10_000.0)),
    max_gap_s=st.sampled_from([60.0, 300.0, 900.0]),
    unit=st.just("kWh"),
)
values = st.one_of(st.floats(0.0, 2_000.0), st.sampled_from([0.0, 999.9, 1_000.0]))
runs_of_readings = st.lists(
    st.tuples(
        specs,
        st.one_of(st.none(), values),  # the stored previous reading's value, if any
        st.lists(st.tuples(st.integers(1, 3_600_000_000), values), min_size=1, max_size=12),
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(runs_of_readings)
def test_arrays_step_exactly_as_step_does(generated: list) -> None:  # type: ignore[type-arg]
    time_us: list[int] = []
    value: list[float] = []
    runs: list[MeterRun] = []
    expected: list[tuple[float | None, int, EventKind | None]] = []
    for spec, previous_value, readings in generated:
        start_us = micros(T0)
        previous = None if previous_value is None else RegisterPoint(T0, previous_value)
        begin = len(time_us)
        point = previous
        for gap_us, v in readings:
            start_us += gap_us
            current = RegisterPoint(from_micros(start_us), v)
            judged = step(point, current, spec)
            expected.append((judged.quantity, int(judged.quality), judged.event))
            time_us.append(start_us)
            value.append(v)
            point = current
        runs.append(MeterRun(spec, begin, len(time_us), previous))

    stepped = step_runs(np.array(time_us, np.int64), np.array(value), runs)

    for i, (quantity, quality, event) in enumerate(expected):
        got = stepped.quantity[i]
        assert (quantity is None and math.isnan(got)) or got == quantity, i
        assert stepped.quality[i] == quality
        if i in stepped.full:
            assert stepped.full[i].event is event
        else:  # judged by arrays: a plain reading, no event
            assert (event, quality) == (None, 0)
