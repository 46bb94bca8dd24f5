"""EnPIs, regression baselines, savings and CUSUM: the identities and the validity rules."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.enpi import (
    PeriodUse,
    Price,
    enpi_ratios,
    express_saving,
    ratio_enpi,
    savings_cusum,
)
from app.domain.enpi_model import (
    BaselinePoint,
    ValidityRules,
    adjusted_baseline,
    fit_baseline,
)
from app.domain.factors import ResolvedFactor
from app.domain.standard_coal import resolve_coefficient
from app.energy.catalogue import load_coefficients
from tests.domain.test_factors import make_factor

START = datetime(2025, 1, 1, tzinfo=UTC)


def months(count: int, start: datetime = START) -> list[tuple[datetime, datetime]]:
    """Consecutive calendar months as UTC bounds."""
    bounds = []
    year, month = start.year, start.month
    for _ in range(count):
        nxt = (year + month // 12, month % 12 + 1)
        bounds.append((datetime(year, month, 1, tzinfo=UTC), datetime(*nxt, 1, tzinfo=UTC)))
        year, month = nxt
    return bounds


def synthetic_plant(
    *,
    kwh_per_unit: float,
    base_kw: float,
    count: int = 12,
    noise: float = 0.0,
    seed: int = 1,
    start: datetime = START,
    kwh_per_dd: float | None = None,
) -> list[BaselinePoint]:
    """A plant whose energy is kwh_per_unit × units + base_kw × hours (+ c × DD) + noise."""
    rng = random.Random(seed)
    points = []
    for lo, hi in months(count, start):
        hours = (hi - lo).total_seconds() / 3600
        units = rng.uniform(200_000, 400_000)
        dd = rng.uniform(0, 400) if kwh_per_dd is not None else None
        energy = kwh_per_unit * units + base_kw * hours + (kwh_per_dd or 0) * (dd or 0)
        energy *= 1 + rng.gauss(0, noise)
        points.append(BaselinePoint(lo, hi, energy, units, dd))
    return points


@settings(max_examples=40, deadline=None)
@given(
    a=st.floats(0.2, 5.0),
    base_kw=st.floats(10.0, 2000.0),
    seed=st.integers(0, 10_000),
)
def test_fit_reproduces_a_synthetic_plants_true_coefficients(
    a: float, base_kw: float, seed: int
) -> None:
    # Equal-length periods, no noise: OLS must give back a and b exactly.
    points = []
    rng = random.Random(seed)
    for i in range(12):
        lo = START + timedelta(days=30 * i)
        units = rng.uniform(1_000, 50_000)
        points.append(BaselinePoint(lo, lo + timedelta(days=30), a * units + base_kw * 720, units))
    model = fit_baseline(points, model_id="synthetic")
    assert model.kwh_per_unit == pytest.approx(a, rel=1e-9)
    assert model.fixed_kwh_per_period == pytest.approx(base_kw * 720, rel=1e-9)
    assert model.base_load_kw == pytest.approx(base_kw, rel=1e-9)
    assert model.r_squared == pytest.approx(1.0, abs=1e-9)
    assert model.valid


@settings(max_examples=30, deadline=None)
@given(a=st.floats(0.2, 5.0), base_kw=st.floats(10.0, 2000.0), seed=st.integers(0, 10_000))
def test_fit_on_calendar_months_reproduces_the_true_coefficients(
    a: float, base_kw: float, seed: int
) -> None:
    # Months of 28 to 31 days: the fixed load is a power, so month length is no error.
    model = fit_baseline(
        synthetic_plant(kwh_per_unit=a, base_kw=base_kw, count=14, seed=seed), model_id="cal"
    )
    assert model.kwh_per_unit == pytest.approx(a, rel=1e-7)
    assert model.base_load_kw == pytest.approx(base_kw, rel=1e-7)
    february = adjusted_baseline(model, production_units=1000, hours=28 * 24)
    assert february.expected_kwh == pytest.approx(a * 1000 + base_kw * 672, rel=1e-7)


def test_fit_with_degree_days_reproduces_all_three_coefficients() -> None:
    points = []
    rng = random.Random(7)
    for i in range(14):
        lo = START + timedelta(days=30 * i)
        units, dd = rng.uniform(1e4, 5e4), rng.uniform(0, 300)
        points.append(
            BaselinePoint(lo, lo + timedelta(days=30), 1.3 * units + 9e4 + 55 * dd, units, dd)
        )
    model = fit_baseline(points, model_id="weather")
    assert model.kwh_per_unit == pytest.approx(1.3)
    assert model.fixed_kwh_per_period == pytest.approx(9e4)
    assert model.kwh_per_degree_day == pytest.approx(55)
    with pytest.raises(ValueError, match="degree-days"):
        model.predict_kwh(1000, hours=720)


def test_noisy_plant_fit_is_close_and_statistics_are_reported() -> None:
    points = synthetic_plant(kwh_per_unit=1.6, base_kw=900, count=24, noise=0.01)
    model = fit_baseline(points, model_id="noisy")
    assert model.kwh_per_unit == pytest.approx(1.6, rel=0.05)
    assert model.n == 24
    assert 0.75 <= model.r_squared < 1
    assert 0 < model.cv_rmse < 0.03
    assert {c.name for c in model.checks} == {"drivers_vary", "min_points", "min_r_squared"}


def test_too_few_points_makes_the_model_invalid_and_claims_no_savings() -> None:
    points = synthetic_plant(kwh_per_unit=1.6, base_kw=900, count=8)
    model = fit_baseline(points, model_id="short")
    assert not model.valid
    assert [c.name for c in model.failed_checks] == ["min_points"]
    report = savings_cusum(
        model, synthetic_plant(kwh_per_unit=1.5, base_kw=900, start=months(9)[-1][1])
    )
    assert report.valid is False
    assert report.total_saving_kwh is None
    assert all(p.saving_kwh is None and p.cusum_kwh is None for p in report.periods)
    assert "8 baseline points" in report.explanation
    adjusted = adjusted_baseline(model, production_units=1000, hours=24)
    assert adjusted.expected_kwh is None and not adjusted.valid
    # Configurable: a site may accept 8 monthly points.
    assert fit_baseline(points, model_id="short", rules=ValidityRules(min_points=8)).valid


def test_energy_unrelated_to_production_fails_the_r_squared_check() -> None:
    rng = random.Random(3)
    points = [
        BaselinePoint(lo, hi, rng.uniform(4e5, 6e5), rng.uniform(1e5, 3e5)) for lo, hi in months(12)
    ]
    model = fit_baseline(points, model_id="noise")
    assert not model.valid
    failed = model.failed_checks[0]
    assert failed.name == "min_r_squared" and failed.value < 0.75


def test_constant_production_is_reported_as_a_singular_fit() -> None:
    day = timedelta(days=30)
    points = [
        BaselinePoint(START + i * day, START + (i + 1) * day, 5e5 + i, 1e3) for i in range(12)
    ]
    model = fit_baseline(points, model_id="flat")
    assert "drivers_vary" in {c.name for c in model.failed_checks}


def test_cv_rmse_limit_is_checked_when_configured() -> None:
    points = synthetic_plant(kwh_per_unit=1.6, base_kw=900, noise=0.05, seed=11)
    model = fit_baseline(
        points, model_id="cv", rules=ValidityRules(min_r_squared=0, max_cv_rmse=0.01)
    )
    check = next(c for c in model.checks if c.name == "max_cv_rmse")
    assert check.value == model.cv_rmse and not check.passed


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), noise=st.floats(0.0, 0.01))
def test_cusum_of_a_plant_with_no_change_stays_near_zero(seed: int, noise: float) -> None:
    baseline = synthetic_plant(kwh_per_unit=1.6, base_kw=900, count=24, noise=noise, seed=seed)
    model = fit_baseline(baseline, model_id="nochange")
    reporting = synthetic_plant(
        kwh_per_unit=1.6, base_kw=900, count=12, noise=noise, seed=seed + 1, start=months(25)[-1][0]
    )
    report = savings_cusum(model, reporting)
    total_actual = math.fsum(p.energy_kwh for p in reporting)
    assert report.valid
    # Noise of σ per month over 12 months: the CUSUM stays within a few σ·√n of zero.
    bound = 4 * max(noise, 1e-9) * total_actual / math.sqrt(12) + 1e-6 * total_actual
    assert all(abs(p.cusum_kwh or 0) <= bound for p in report.periods)


def test_a_real_saving_makes_the_cusum_rise_and_sums_to_the_total() -> None:
    model = fit_baseline(synthetic_plant(kwh_per_unit=1.6, base_kw=900), model_id="m")
    reporting = synthetic_plant(kwh_per_unit=1.6 * 0.93, base_kw=900, start=months(13)[-1][0])
    report = savings_cusum(model, reporting)
    cusums = [p.cusum_kwh or 0 for p in report.periods]
    assert cusums == sorted(cusums) and cusums[0] > 0
    assert report.total_saving_kwh == pytest.approx(cusums[-1])
    for p in report.periods:
        assert p.saving_kwh == pytest.approx((p.expected_kwh or 0) - p.actual_kwh)


@given(st.lists(st.tuples(st.floats(0, 1e6), st.floats(0, 1e6)), min_size=1, max_size=24))
def test_sum_of_period_savings_is_the_final_cusum(rows: list[tuple[float, float]]) -> None:
    model = fit_baseline(synthetic_plant(kwh_per_unit=1.2, base_kw=500), model_id="m")
    bounds = months(len(rows), datetime(2026, 1, 1, tzinfo=UTC))
    periods = [BaselinePoint(lo, hi, e, u) for (lo, hi), (e, u) in zip(bounds, rows, strict=True)]
    report = savings_cusum(model, periods)
    assert report.periods[-1].cusum_kwh == pytest.approx(report.total_saving_kwh, abs=1e-6)
    assert report.total_saving_kwh == pytest.approx(
        math.fsum(p.saving_kwh or 0 for p in report.periods), abs=1e-6
    )


def test_overlapping_reporting_periods_are_refused() -> None:
    model = fit_baseline(synthetic_plant(kwh_per_unit=1.2, base_kw=500), model_id="m")
    a = BaselinePoint(START, START + timedelta(days=2), 10, 1)
    b = BaselinePoint(START + timedelta(days=1), START + timedelta(days=3), 10, 1)
    with pytest.raises(ValueError, match="overlap"):
        savings_cusum(model, [a, b])


def test_adjusted_baseline_scales_the_fixed_load_to_the_period() -> None:
    model = fit_baseline(synthetic_plant(kwh_per_unit=1.6, base_kw=900), model_id="m")
    hour = adjusted_baseline(model, production_units=100, hours=1)
    day = adjusted_baseline(model, production_units=2400, hours=24)
    assert hour.valid and hour.expected_kwh is not None and day.expected_kwh is not None
    assert day.expected_kwh == pytest.approx(24 * hour.expected_kwh)
    assert hour.expected_kwh == pytest.approx(1.6 * 100 + 900, rel=1e-6)
    assert "m" in hour.explanation and "R²" in hour.explanation


@given(
    base_total=st.floats(1, 1e7),
    base_units=st.floats(1, 1e6),
    now_total=st.floats(0, 1e7),
    now_units=st.floats(1, 1e6),
)
def test_ratio_savings_identity(
    base_total: float, base_units: float, now_total: float, now_units: float
) -> None:
    r = ratio_enpi(
        "energy",
        "kWh/unit",
        baseline_total=base_total,
        baseline_units=base_units,
        reporting_total=now_total,
        reporting_units=now_units,
    )
    assert r.baseline_per_unit is not None and r.savings is not None and r.improvement is not None
    # (EnPI_base − EnPI_now) × output_now = baseline ratio × output_now − actual.
    expected = base_total / base_units * now_units - now_total
    assert r.savings == pytest.approx(expected, rel=1e-9, abs=1e-6 * max(1.0, now_total))
    assert r.improvement * r.baseline_per_unit * now_units == pytest.approx(
        r.savings, rel=1e-9, abs=1e-6 * max(1.0, now_total)
    )


def test_ratios_cover_what_both_periods_measured() -> None:
    base = PeriodUse(energy_kwh=1600, production_units=1000, kgce=250, water_m3=4, co2_kg=900)
    now = PeriodUse(energy_kwh=1488, production_units=1000, kgce=230, co2_kg=800)
    rows = {r.name: r for r in enpi_ratios(base, now)}
    assert set(rows) == {"energy", "comprehensive_energy", "co2"}
    assert rows["energy"].improvement == pytest.approx(0.07)
    assert rows["energy"].savings == pytest.approx(112)
    none = ratio_enpi(
        "energy",
        "kWh/unit",
        baseline_total=10,
        baseline_units=1,
        reporting_total=5,
        reporting_units=0,
    )
    assert none.reporting_per_unit is None and none.savings is None


def test_express_saving_names_every_source() -> None:
    coal = resolve_coefficient(load_coefficients().coefficients, carrier="electricity", at=START)
    grid = ResolvedFactor(make_factor(id="grid-x", value=0.5))
    out = express_saving(
        1000.0, coal=coal, co2_factor=grid, price=Price(Decimal("0.62"), "CNY", "tariff-x")
    )
    assert out.kgce == pytest.approx(122.9)
    assert out.co2_kg == pytest.approx(500)
    assert out.money == Decimal("620.00") and isinstance(out.money, Decimal)
    assert out.ids == {
        "kgce": ("cn-electricity-calorific-gbt2589-2020",),
        "co2_kg": ("grid-x",),
        "money": ("tariff-x",),
    }
    gas = resolve_coefficient(load_coefficients().coefficients, carrier="gas", at=START)
    with pytest.raises(ValueError, match="not electricity"):
        express_saving(1.0, coal=gas)
