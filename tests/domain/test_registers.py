"""Registers: rollovers, resets, replacements, jumps and gaps never give bad intervals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from app.domain.registers import (
    MIN_WINDOW_S,
    RATE_SLACK,
    EventKind,
    Quality,
    RegisterKind,
    RegisterPoint,
    RegisterSpec,
    Step,
    plausible_max,
    resequence,
    step,
)

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
CUMULATIVE = RegisterSpec(RegisterKind.CUMULATIVE, max_rate_per_hour=1000.0, unit="kWh")


def at(minutes: float, value: float) -> RegisterPoint:
    return RegisterPoint(T0 + timedelta(minutes=minutes), value)


# --- cumulative registers: concrete cases a meter engineer checks ---


def test_first_cumulative_reading_has_no_interval() -> None:
    assert step(None, at(0, 12345.6), CUMULATIVE) == Step(
        None, Quality.FIRST, None, "first reading: no interval yet"
    )


def test_increase_is_the_delta() -> None:
    assert step(at(0, 100.0), at(15, 112.5), CUMULATIVE) == Step(12.5, Quality.GOOD)


def test_unchanged_register_is_zero() -> None:
    assert step(at(0, 100.0), at(15, 100.0), CUMULATIVE) == Step(0.0, Quality.GOOD)


def test_rollover_counts_across_the_wrap() -> None:
    spec = RegisterSpec(
        RegisterKind.CUMULATIVE, rollover_at=100_000.0, max_rate_per_hour=1000.0, unit="kWh"
    )
    result = step(at(0, 99_999.0), at(15, 1.0), spec)
    assert result.quantity == pytest.approx(2.0, abs=1e-9)
    assert result.quality is Quality.ROLLOVER
    assert result.event is EventKind.ROLLOVER
    assert result.detail == (
        "register dropped from 99999 to 1 kWh: counted as rollover at 100000 kWh, 2 kWh consumed"
    )


def test_rollover_at_is_the_modulus_not_the_last_shown_value() -> None:
    # Configured as the last value shown (99999.9), one register step is lost per wrap.
    spec = RegisterSpec(RegisterKind.CUMULATIVE, rollover_at=99_999.9, max_rate_per_hour=1000.0)
    result = step(at(0, 99_999.0), at(15, 1.0), spec)
    assert result.quantity == pytest.approx(1.9, abs=1e-9)
    assert result.event is EventKind.ROLLOVER


def test_reset_to_near_zero_is_an_estimated_reset() -> None:
    result = step(at(0, 12345.6), at(15, 0.5), CUMULATIVE)
    assert result == Step(
        0.5,
        Quality.RESET | Quality.ESTIMATED,
        EventKind.RESET,
        "register dropped from 12345.6 to 0.5 kWh: counted as reset, 0.5 kWh since reset",
    )


def test_drop_far_from_the_rollover_point_is_a_reset_not_a_rollover() -> None:
    spec = RegisterSpec(RegisterKind.CUMULATIVE, rollover_at=100_000.0, max_rate_per_hour=1000.0)
    result = step(at(0, 50_000.0), at(15, 10.0), spec)
    assert result.quantity == 10.0
    assert result.event is EventKind.RESET


def test_replacement_meter_with_a_higher_start_gives_no_giant_value() -> None:
    result = step(at(0, 12_000.0), at(15, 50_000.0), CUMULATIVE)
    assert result == Step(
        None,
        Quality.JUMP,
        EventKind.JUMP,
        "register rose by 38000 kWh exceeds the plausible 275 kWh: interval unknown",
    )


def test_replacement_meter_with_a_lower_unrelated_start_gives_no_value() -> None:
    result = step(at(0, 50_000.0), at(15, 12_000.0), CUMULATIVE)
    assert result == Step(
        None,
        Quality.REPLACEMENT,
        EventKind.REPLACEMENT,
        "register dropped from 50000 to 12000 kWh: counted as meter replacement, interval unknown",
    )


def test_jump_threshold_is_max_rate_times_hours_with_slack() -> None:
    assert plausible_max(CUMULATIVE, 900.0) == pytest.approx(275.0, rel=1e-12)
    assert step(at(0, 1000.0), at(15, 1275.0), CUMULATIVE).quantity == 275.0
    assert step(at(0, 1000.0), at(15, 1275.5), CUMULATIVE).event is EventKind.JUMP


def test_tiny_intervals_are_judged_over_the_minimum_window() -> None:
    spec = RegisterSpec(RegisterKind.CUMULATIVE, max_rate_per_hour=100.0)
    one_second = RegisterPoint(T0 + timedelta(seconds=1), 1001.5)
    # 1.5 kWh in 1 s is 5400 kWh/h, but a 0.1-kWh register read every second
    # moves in bursts: judged over a minute (limit 1.83 kWh) it is plausible.
    assert step(RegisterPoint(T0, 1000.0), one_second, spec).quantity == 1.5
    assert plausible_max(spec, 1.0) == plausible_max(spec, MIN_WINDOW_S)


def test_reset_plausibility_grows_with_elapsed_time() -> None:
    # 600 kWh since a reset is impossible in 15 min at 1000 kWh/h but fine in 2 h.
    assert step(at(0, 9000.0), at(15, 600.0), CUMULATIVE).event is EventKind.REPLACEMENT
    assert step(at(0, 9000.0), at(120, 600.0), CUMULATIVE).quantity == 600.0


def test_single_glitch_costs_two_flagged_intervals_and_never_a_spike() -> None:
    steps = resequence(
        [at(0, 1000.0), at(15, 1010.0), at(30, 999_999.0), at(45, 1020.0), at(60, 1030.0)],
        CUMULATIVE,
    )
    assert [s.quantity for s in steps] == [None, 10.0, None, None, 10.0]
    assert [s.event for s in steps] == [
        None,
        None,
        EventKind.JUMP,
        EventKind.REPLACEMENT,
        None,
    ]


def test_without_max_rate_a_non_wrap_drop_is_unknown_not_estimated() -> None:
    spec = RegisterSpec(RegisterKind.CUMULATIVE, unit="kWh")
    result = step(at(0, 12_000.0), at(15, 50.0), spec)
    assert result.quantity is None
    assert result.quality is Quality.RESET
    assert result.event is EventKind.RESET


def test_without_max_rate_a_wrap_within_a_tenth_of_the_range_is_a_rollover() -> None:
    spec = RegisterSpec(RegisterKind.CUMULATIVE, rollover_at=100_000.0)
    assert step(at(0, 99_000.0), at(15, 500.0), spec).quantity == 1500.0
    assert step(at(0, 60_000.0), at(15, 500.0), spec).quantity is None


def test_without_max_rate_increases_are_trusted() -> None:
    spec = RegisterSpec(RegisterKind.CUMULATIVE)
    assert step(at(0, 0.0), at(1, 1e6), spec) == Step(1e6, Quality.GOOD)


def test_equal_timestamps_are_stepped_like_a_short_interval() -> None:
    assert step(at(0, 500.0), at(0, 500.0), CUMULATIVE) == Step(0.0, Quality.GOOD)


def test_previous_after_current_is_refused() -> None:
    with pytest.raises(ValueError, match="is after current reading"):
        step(at(15, 100.0), at(0, 90.0), CUMULATIVE)


# --- points and specs refuse nonsense ---


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        RegisterPoint(datetime(2025, 3, 1, 8, 0), 1.0)


def test_any_timezone_is_accepted_and_elapsed_is_real_time() -> None:
    cet = timezone(timedelta(hours=1))
    earlier = RegisterPoint(datetime(2025, 3, 1, 9, 0, tzinfo=cet), 100.0)  # 08:00 UTC
    later = RegisterPoint(datetime(2025, 3, 1, 8, 15, tzinfo=UTC), 200.0)
    power = RegisterSpec(RegisterKind.INSTANTANEOUS)
    assert step(earlier, later, power).quantity == 37.5


@pytest.mark.parametrize("value", [-0.1, float("nan"), float("inf")])
def test_negative_and_non_finite_values_are_refused(value: float) -> None:
    with pytest.raises(ValueError, match="finite and >= 0"):
        RegisterPoint(T0, value)


@pytest.mark.parametrize(
    "kwargs",
    [{"rollover_at": 0.0}, {"max_rate_per_hour": -1.0}, {"max_gap_s": 0.0}],
)
def test_spec_refuses_non_positive_limits(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        RegisterSpec(RegisterKind.CUMULATIVE, **kwargs)  # type: ignore[arg-type]


def test_quality_flags_have_fixed_stored_values() -> None:
    assert [int(flag) for flag in Quality] == [1, 2, 4, 8, 16, 32, 64, 128]
    assert int(Quality.GOOD) == 0
    assert int(Quality.RESET | Quality.ESTIMATED | Quality.LATE) == 138
    assert Quality(138) == Quality.RESET | Quality.ESTIMATED | Quality.LATE


# --- interval and instantaneous registers ---

INTERVAL = RegisterSpec(RegisterKind.INTERVAL, max_rate_per_hour=1000.0, unit="kWh")
POWER = RegisterSpec(RegisterKind.INSTANTANEOUS, max_rate_per_hour=1000.0, unit="kWh")


def test_interval_reading_is_its_own_quantity_even_first() -> None:
    assert step(None, at(15, 12.5), INTERVAL) == Step(12.5, Quality.GOOD)
    assert step(at(0, 3.0), at(15, 12.5), INTERVAL) == Step(12.5, Quality.GOOD)


def test_absurd_interval_reading_is_a_jump() -> None:
    result = step(at(0, 3.0), at(15, 5000.0), INTERVAL)
    assert result.quantity is None
    assert result.event is EventKind.JUMP


def test_power_is_integrated_by_trapezoid() -> None:
    assert step(at(0, 100.0), at(15, 200.0), POWER) == Step(37.5, Quality.GOOD)


def test_first_power_reading_has_no_interval() -> None:
    assert step(None, at(0, 100.0), POWER).quality is Quality.FIRST


def test_power_is_integrated_up_to_exactly_max_gap() -> None:
    assert step(at(0, 100.0), at(15, 100.0), POWER).quantity == 25.0


def test_power_beyond_max_gap_is_unknown() -> None:
    assert step(at(0, 100.0), at(16, 100.0), POWER) == Step(
        None,
        Quality.GAP,
        EventKind.GAP,
        "960 s since the last reading exceeds 900 s: interval unknown",
    )


def test_implausible_power_spike_is_a_jump() -> None:
    assert step(at(0, 100.0), at(15, 50_000.0), POWER).event is EventKind.JUMP


def test_equal_timestamps_integrate_to_zero() -> None:
    assert step(at(0, 100.0), at(0, 300.0), POWER) == Step(0.0, Quality.GOOD)


# --- resequencing after a late reading ---


def test_late_reading_splits_the_next_interval() -> None:
    before, late, after = at(0, 100.0), at(15, 112.0), at(30, 130.0)
    assert step(before, after, CUMULATIVE).quantity == 30.0
    recomputed = resequence([late, after], CUMULATIVE, previous=before)
    assert [s.quantity for s in recomputed] == [12.0, 18.0]


def test_resequence_refuses_an_unordered_run() -> None:
    with pytest.raises(ValueError):
        resequence([at(15, 1.0), at(0, 2.0)], CUMULATIVE)


# --- properties ---


@st.composite
def wrapping_runs(draw: st.DrawFn) -> tuple[RegisterSpec, list[RegisterPoint], list[float]]:
    """A register that only moves forward within its rate limit, wrapping at its modulus."""
    rollover_at = draw(st.floats(min_value=1000.0, max_value=1e9))
    # At most 5 % of the range in the longest interval: wraps are unambiguous.
    max_rate = rollover_at * draw(st.floats(min_value=1e-6, max_value=0.05)) / 2
    spec = RegisterSpec(
        RegisterKind.CUMULATIVE, rollover_at=rollover_at, max_rate_per_hour=max_rate
    )
    value = draw(st.floats(min_value=0.0, max_value=rollover_at, exclude_max=True))
    time = T0
    points = [RegisterPoint(time, value)]
    increments: list[float] = []
    for _ in range(draw(st.integers(min_value=1, max_value=30))):
        elapsed_s = draw(st.integers(min_value=1, max_value=7200))
        increment = draw(st.floats(min_value=0.0, max_value=max_rate * elapsed_s / 3600))
        value += increment
        if value >= rollover_at:
            value = max(0.0, value - rollover_at)
        time += timedelta(seconds=elapsed_s)
        points.append(RegisterPoint(time, value))
        increments.append(increment)
    return spec, points, increments


@given(wrapping_runs())
def test_wrapping_runs_are_never_negative_nor_above_the_rate(
    run: tuple[RegisterSpec, list[RegisterPoint], list[float]],
) -> None:
    spec, points, increments = run
    assert spec.rollover_at is not None
    steps = resequence(points, spec)
    assert steps[0].quality is Quality.FIRST
    for prev, cur, result, increment in zip(
        points[:-1], points[1:], steps[1:], increments, strict=True
    ):
        assert result.quantity is not None
        assert result.quantity >= 0
        allowed = plausible_max(spec, (cur.time - prev.time).total_seconds())
        assert allowed is not None
        assert result.quantity <= allowed
        assert result.quantity == pytest.approx(increment, abs=spec.rollover_at * 1e-12 + 1e-9)
        assert result.event in {None, EventKind.ROLLOVER}


@st.composite
def monotone_runs(draw: st.DrawFn) -> tuple[RegisterSpec, list[RegisterPoint]]:
    """Whole-kWh readings rising within the rate limit (exact float arithmetic)."""
    max_rate = draw(st.integers(min_value=1, max_value=100_000))
    spec = RegisterSpec(RegisterKind.CUMULATIVE, max_rate_per_hour=float(max_rate))
    value = draw(st.integers(min_value=0, max_value=10**9))
    seconds = 0
    points = [RegisterPoint(T0, float(value))]
    for _ in range(draw(st.integers(min_value=1, max_value=40))):
        elapsed_s = draw(st.integers(min_value=1, max_value=7200))
        value += draw(st.integers(min_value=0, max_value=max_rate * elapsed_s // 3600))
        seconds += elapsed_s
        points.append(RegisterPoint(T0 + timedelta(seconds=seconds), float(value)))
    return spec, points


def known_total(steps: list[Step]) -> float:
    return sum(s.quantity for s in steps if s.quantity is not None)


@given(monotone_runs())
def test_monotone_run_sums_to_last_minus_first(
    run: tuple[RegisterSpec, list[RegisterPoint]],
) -> None:
    spec, points = run
    steps = resequence(points, spec)
    assert all(s.quality in {Quality.GOOD, Quality.FIRST} for s in steps)
    assert known_total(steps) == points[-1].value - points[0].value


@given(monotone_runs(), st.data())
def test_a_late_reading_leaves_the_total_unchanged(
    run: tuple[RegisterSpec, list[RegisterPoint]], data: st.DataObject
) -> None:
    spec, points = run
    assume(len(points) >= 3)
    late = data.draw(st.integers(min_value=1, max_value=len(points) - 2))
    stored = points[:late] + points[late + 1 :]
    stored_steps = resequence(stored, spec)
    # The late reading arrives: step it and recompute the stored reading after it.
    fixed = resequence(points[late : late + 2], spec, previous=points[late - 1])
    merged = stored_steps[:late] + fixed + stored_steps[late + 1 :]
    assert merged == resequence(points, spec)
    assert known_total(merged) == known_total(stored_steps)


values = st.floats(min_value=0.0, max_value=1e8)
specs = st.builds(
    RegisterSpec,
    kind=st.sampled_from(RegisterKind),
    rollover_at=st.none() | st.floats(min_value=1.0, max_value=1e8),
    max_rate_per_hour=st.none() | st.floats(min_value=0.01, max_value=1e6),
    max_gap_s=st.floats(min_value=1.0, max_value=86_400.0),
)


@st.composite
def any_runs(draw: st.DrawFn) -> list[RegisterPoint]:
    """Readings of any value, resets and glitches included, in time order."""
    seconds = 0
    points = []
    for _ in range(draw(st.integers(min_value=1, max_value=30))):
        seconds += draw(st.integers(min_value=0, max_value=86_400))
        points.append(RegisterPoint(T0 + timedelta(seconds=seconds), draw(values)))
    return points


@given(specs, any_runs())
def test_no_input_gives_negative_or_implausible_quantities(
    spec: RegisterSpec, points: list[RegisterPoint]
) -> None:
    steps = resequence(points, spec)
    for index, result in enumerate(steps):
        assert result.quantity is None or result.quantity >= 0
        if index == 0 or result.quantity is None:
            continue
        elapsed_s = (points[index].time - points[index - 1].time).total_seconds()
        allowed = plausible_max(spec, elapsed_s)
        if allowed is not None:
            assert result.quantity <= allowed
        if result.event is not None or result.quality is not Quality.GOOD:
            assert result.detail


@given(specs, any_runs(), st.data())
def test_splitting_a_run_gives_the_same_steps(
    spec: RegisterSpec, points: list[RegisterPoint], data: st.DataObject
) -> None:
    cut = data.draw(st.integers(min_value=1, max_value=len(points)))
    whole = resequence(points, spec)
    parts = resequence(points[:cut], spec) + resequence(
        points[cut:], spec, previous=points[cut - 1]
    )
    assert parts == whole
    assert known_total(parts) == known_total(whole)


def test_slack_and_window_are_what_the_docs_say() -> None:
    assert RATE_SLACK == 1.1
    assert MIN_WINDOW_S == 60.0
