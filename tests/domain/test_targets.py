"""Intensity targets: the path, its status at a date, and refusals."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.targets import IntensityTarget, TargetState, intensity, target_status

CST = timezone(timedelta(hours=8))
START, END = datetime(2026, 1, 1, tzinfo=CST), datetime(2031, 1, 1, tzinfo=CST)


def target(**changes: object) -> IntensityTarget:
    fields: dict[str, object] = {
        "id": "co2-per-cell-2030",
        "metric": "co2_per_unit",
        "base_value": 0.80,
        "reduction": 0.18,
        "plan_start": START,
        "plan_end": END,
    }
    fields.update(changes)
    return IntensityTarget(**fields)  # type: ignore[arg-type]


def test_linear_path_and_status() -> None:
    t = target()
    assert t.value_at(START) == pytest.approx(0.80)
    assert t.value_at(END) == pytest.approx(0.656)
    assert t.value_at(END + timedelta(days=400)) == pytest.approx(0.656)
    assert t.value_at(START - timedelta(days=1)) == pytest.approx(0.80)
    midway = START + (END - START) / 2
    assert t.value_at(midway) == pytest.approx(0.80 * (1 - 0.09))
    on = target_status(t, 0.70, midway)
    off = target_status(t, 0.75, midway)
    assert on.state is TargetState.ON_TRACK and off.state is TargetState.OFF_TRACK
    assert on.reduction_so_far == pytest.approx(0.125)
    assert target_status(t, None, midway).state is TargetState.NOT_ASSESSED
    lenient = target_status(target(tolerance=0.05), 0.75, midway)
    assert lenient.state is TargetState.ON_TRACK


def test_compound_path_meets_the_same_end_value() -> None:
    t = target(path="compound")
    assert t.value_at(END) == pytest.approx(t.end_value)
    midway = START + (END - START) / 2
    assert t.value_at(midway) == pytest.approx(0.80 * 0.82**0.5)
    assert (1 - t.annual_rate()) ** 5 == pytest.approx(0.82, rel=1e-3)


@given(st.floats(0, 1), st.floats(0, 1), st.sampled_from(["linear", "compound"]))
def test_path_never_rises(f1: float, f2: float, path: str) -> None:
    t = target(path=path)
    span = END - START
    early, late = sorted((f1, f2))
    assert t.value_at(START + span * late) <= t.value_at(START + span * early) + 1e-12


def test_bad_targets_are_refused() -> None:
    with pytest.raises(ValueError, match="fraction"):
        target(reduction=18)
    with pytest.raises(ValueError, match="metric"):
        target(metric="co2_per_m2")
    with pytest.raises(ValueError, match="not after"):
        target(plan_end=START)
    assert intensity(1000.0, 0) is None and intensity(1000.0, 2000.0) == 0.5
    assert target(metric="co2_per_output_value").unit == "kgCO2/CNY"
