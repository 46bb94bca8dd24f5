"""Register edges and the event texts an operator reads (mutation testing found these
could change unnoticed): exact boundaries of jumps and wraps, and each event's detail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.domain.registers import (
    EventKind,
    Quality,
    RegisterKind,
    RegisterPoint,
    RegisterSpec,
    plausible_max,
    step,
)

T0 = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)
HOUR_S = 3600.0


def at(seconds: float, value: float) -> RegisterPoint:
    return RegisterPoint(T0 + timedelta(seconds=seconds), value)


def test_a_zero_max_rate_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"^max_rate_per_hour must be positive, got 0"):
        RegisterSpec(RegisterKind.CUMULATIVE, max_rate_per_hour=0.0)


def test_a_register_showing_its_modulus_then_wrapping_is_a_rollover() -> None:
    spec = RegisterSpec(RegisterKind.CUMULATIVE, rollover_at=1000.0, unit="kWh")
    got = step(at(0, 1000.0), at(60, 5.0), spec)
    assert (got.quantity, got.quality) == (5.0, Quality.ROLLOVER)


def test_a_wrap_beyond_the_plausible_rate_is_no_rollover() -> None:
    """With a rated maximum, the wrap must fit the rate, not merely a tenth of the range."""
    spec = RegisterSpec(
        RegisterKind.CUMULATIVE, rollover_at=1000.0, max_rate_per_hour=10.0, unit="kWh"
    )
    got = step(at(0, 990.0), at(HOUR_S, 20.0), spec)  # 30 kWh wrapped, 11 kWh plausible
    assert (got.quantity, got.quality, got.event) == (
        None,
        Quality.REPLACEMENT,
        EventKind.REPLACEMENT,
    )


def test_a_wrap_of_exactly_the_plausible_quantity_is_a_rollover() -> None:
    spec = RegisterSpec(
        RegisterKind.CUMULATIVE, rollover_at=1000.0, max_rate_per_hour=10.0, unit="kWh"
    )
    allowed = plausible_max(spec, HOUR_S)
    assert allowed is not None
    cur = allowed - 1.0
    assert 1000.0 - 999.0 + cur == allowed  # the wrap is exactly the limit
    got = step(at(0, 999.0), at(HOUR_S, cur), spec)
    assert (got.quantity, got.quality) == (allowed, Quality.ROLLOVER)


def test_a_reset_without_a_rate_says_why_the_quantity_is_unknown() -> None:
    spec = RegisterSpec(RegisterKind.CUMULATIVE, unit="kWh")
    got = step(at(0, 500.0), at(60, 100.0), spec)
    assert (got.quantity, got.event) == (None, EventKind.RESET)
    assert got.detail == (
        "register dropped from 500 to 100 kWh: reset or replacement; without "
        "max_rate_per_hour the consumption since is unknown"
    )


def test_an_interval_reading_of_exactly_the_plausible_maximum_is_kept() -> None:
    spec = RegisterSpec(RegisterKind.INTERVAL, max_rate_per_hour=10.0, unit="kWh")
    allowed = plausible_max(spec, HOUR_S)
    assert allowed is not None
    kept = step(at(0, 1.0), at(HOUR_S, allowed), spec)
    assert (kept.quantity, kept.quality) == (allowed, Quality.GOOD)
    jumped = step(at(0, 1.0), at(HOUR_S, 12.5), spec)
    assert (jumped.quantity, jumped.event) == (None, EventKind.JUMP)
    assert jumped.detail == (
        "interval reading 12.5 kWh exceeds the plausible 11 kWh: interval unknown"
    )


def test_instantaneous_power_at_the_edges() -> None:
    spec = RegisterSpec(
        RegisterKind.INSTANTANEOUS, max_rate_per_hour=10.0, max_gap_s=HOUR_S, unit="kWh"
    )
    allowed = plausible_max(spec, HOUR_S)
    assert allowed is not None
    # exactly the longest gap integrated, at exactly the plausible quantity
    edge = step(at(0, allowed), at(HOUR_S, allowed), spec)
    assert (edge.quantity, edge.quality) == (allowed, Quality.GOOD)
    gap = step(at(0, 5.0), at(HOUR_S + 1, 5.0), spec)
    assert (gap.quantity, gap.quality, gap.event) == (None, Quality.GAP, EventKind.GAP)
    assert gap.detail == "3601 s since the last reading exceeds 3600 s: interval unknown"
    jump = step(at(0, 20.0), at(HOUR_S, 20.0), spec)
    assert (jump.quantity, jump.event) == (None, EventKind.JUMP)
    assert jump.detail == "integrated 20 kWh exceeds the plausible 11 kWh: interval unknown"


def test_a_first_power_reading_says_why_it_has_no_interval() -> None:
    spec = RegisterSpec(RegisterKind.INSTANTANEOUS, unit="kW")
    first = step(None, at(0, 5.0), spec)
    assert (first.quantity, first.quality, first.event) == (None, Quality.FIRST, None)
    assert first.detail == "first reading: no interval yet"
