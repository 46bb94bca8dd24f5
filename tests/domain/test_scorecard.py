"""Green-factory scorecard: the linear rule, clamping, direction, operator rules and weights."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from app.domain.scorecard import (
    Direction,
    IndicatorSpec,
    green_factory_indicators,
    renewable_share,
    score_indicator,
    scorecard,
    water_reuse_rate,
)

ENERGY = IndicatorSpec.standard("unit_product_energy", baseline_value=0.30, leading_value=0.20)
REUSE = IndicatorSpec.standard("water_reuse_rate", baseline_value=0.40, leading_value=0.80)


def test_linear_between_baseline_and_leading_clamped_and_direction_aware() -> None:
    assert score_indicator(ENERGY, 0.25).score == pytest.approx(50)
    assert score_indicator(ENERGY, 0.30).score == 0
    assert score_indicator(ENERGY, 0.35).score == 0  # worse than baseline: clamped at 0
    assert score_indicator(ENERGY, 0.10).score == 100  # better than leading: clamped at max
    assert score_indicator(REUSE, 0.70).score == pytest.approx(75)
    assert score_indicator(REUSE, 0.30).score == 0
    assert ENERGY.direction is Direction.LOWER_IS_BETTER and ENERGY.unit == "kgce/unit"
    missing = score_indicator(ENERGY, None)
    assert missing.score is None and "not assessed" in missing.explanation


def test_leading_must_be_better_than_baseline() -> None:
    with pytest.raises(ValueError, match="must be better"):
        IndicatorSpec.standard("unit_product_energy", baseline_value=0.2, leading_value=0.3)
    with pytest.raises(ValueError, match="must be better"):
        IndicatorSpec.standard("renewable_share", baseline_value=0.3, leading_value=0.3)


def test_operator_rule_replaces_the_linear_default() -> None:
    stepped = IndicatorSpec.standard(
        "unit_product_energy",
        baseline_value=0.30,
        leading_value=0.20,
        rule=((0.0, 60.0), (0.5, 60.0), (0.5, 80.0), (1.0, 100.0)),
    )
    assert score_indicator(stepped, 0.30).score == 60  # meeting the baseline earns 60
    assert score_indicator(stepped, 0.26).score == 60
    assert score_indicator(stepped, 0.225).score == pytest.approx(90)
    with pytest.raises(ValueError, match="must not decrease"):
        IndicatorSpec.standard(
            "unit_product_energy", baseline_value=0.3, leading_value=0.2, rule=((0, 50), (1, 40))
        )


@given(
    baseline=st.floats(-1e6, 1e6),
    gap=st.floats(1e-6, 1e6),
    lower=st.booleans(),
    a=st.floats(-1e7, 1e7),
    b=st.floats(-1e7, 1e7),
)
def test_score_is_monotone_in_the_better_direction(
    baseline: float, gap: float, lower: bool, a: float, b: float
) -> None:
    leading = baseline - gap if lower else baseline + gap
    assume(leading != baseline)
    direction = Direction.LOWER_IS_BETTER if lower else Direction.HIGHER_IS_BETTER
    spec = IndicatorSpec("x", baseline, leading, direction)
    worse, better = (max(a, b), min(a, b)) if lower else (min(a, b), max(a, b))
    s_worse, s_better = score_indicator(spec, worse).score, score_indicator(spec, better).score
    assert s_worse is not None and s_better is not None
    assert 0 <= s_worse <= s_better <= 100


def test_total_only_with_operator_weights() -> None:
    actuals = {"unit_product_energy": 0.25, "water_reuse_rate": 0.70}
    unweighted = scorecard([ENERGY, REUSE], actuals)
    assert unweighted.total is None and any("weights" in n for n in unweighted.notes)
    e = IndicatorSpec.standard(
        "unit_product_energy", baseline_value=0.3, leading_value=0.2, weight=3
    )
    r = IndicatorSpec.standard("water_reuse_rate", baseline_value=0.4, leading_value=0.8, weight=1)
    weighted = scorecard([e, r], actuals)
    assert weighted.total == pytest.approx((3 * 50 + 1 * 75) / 4)
    partial = scorecard([e, r], {"unit_product_energy": 0.25})
    assert partial.total == pytest.approx(50)
    assert any("water_reuse_rate" in n for n in partial.notes)


def test_indicators_from_period_totals() -> None:
    values = green_factory_indicators(
        production_units=10_000,
        comprehensive_kgce=2_500,
        water_intake_m3=30,
        water_reused_m3=70,
        co2_kg=8_000,
        consumption_kwh=20_000,
        pv_self_consumed_kwh=3_000,
        certificate_kwh=2_000,
    )
    assert values == pytest.approx(
        {
            "unit_product_energy": 0.25,
            "unit_product_water": 0.003,
            "unit_product_carbon": 0.8,
            "renewable_share": 0.25,
            "water_reuse_rate": 0.7,
        }
    )
    assert renewable_share(100, 80, 50) == 1.0
    assert renewable_share(0, 5) is None and water_reuse_rate(0, 0) is None
    none = green_factory_indicators(
        production_units=0,
        comprehensive_kgce=1,
        water_intake_m3=1,
        water_reused_m3=0,
        co2_kg=1,
        consumption_kwh=1,
        pv_self_consumed_kwh=0,
    )
    assert none["unit_product_energy"] is None and none["water_reuse_rate"] == 0
