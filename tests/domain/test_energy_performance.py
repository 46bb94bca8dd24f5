"""One period's energy performance from totals and the demo's settings."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.domain.energy_performance import SiteEnergyTotals, energy_performance
from app.domain.targets import TargetState
from app.energy.catalogue import load_coefficients
from app.energy.file import demo_energy_path, load_energy_file

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = datetime(2026, 7, 15, tzinfo=SHANGHAI)


def july_day(**changes: object) -> SiteEnergyTotals:
    fields: dict[str, object] = {
        "start": DAY,
        "end": DAY + timedelta(days=1),
        "site_consumption_kwh": 290_000.0,
        "electricity_import_kwh": 215_000.0,
        "electricity_export_kwh": 3_000.0,
        "pv_self_consumed_kwh": 78_000.0,
        "gas_m3": 27_000.0,
        "water_intake_m3": 1_500.0,
        "water_reused_m3": 750.0,
        "production_units": 180_000.0,
        "certificate_kwh": 82_000.0,
        "co2_location_kg": 150_000.0,
    }
    fields.update(changes)
    return SiteEnergyTotals(**fields)  # type: ignore[arg-type]


def test_a_demo_day_gives_every_figure_with_its_coefficients() -> None:
    settings = load_energy_file(demo_energy_path(), zone=SHANGHAI)
    assert settings.baseline is not None
    model = settings.baseline.fit()
    totals = july_day()
    out = energy_performance(
        totals, settings, load_coefficients().coefficients, at=DAY, baseline_model=model
    )
    ids = out.comprehensive.coefficient_ids
    assert ids == (
        "cn-electricity-calorific-gbt2589-2020",
        "guian-gas-declared-2026",
        "cn-water-fresh-gbt2589",
    )
    expected_kgce = 290_000 * 0.1229 + 27_000 * 34_900 / 29_307.6 + 1_500 * 0.2571
    assert out.comprehensive.total_kgce == pytest.approx(expected_kgce)
    assert out.kgce_per_unit == pytest.approx(expected_kgce / 180_000)
    assert out.kwh_per_unit == pytest.approx(290_000 / 180_000)
    assert out.indicators["water_reuse_rate"] == pytest.approx(750 / 2250)
    assert out.indicators["renewable_share"] == pytest.approx(160_000 / 290_000)
    assert out.indicators["unit_product_carbon"] == pytest.approx(150_000 / 180_000)
    assert [s.score is not None for s in out.scorecard.scores] == [True] * 5
    assert out.scorecard.total is None  # the demo sets no weights
    by_id = {s.target_id: s for s in out.targets}
    assert by_id["guian-co2-per-cell-2030"].actual == pytest.approx(150_000 / 180_000)
    assert by_id["guian-co2-per-cny-2030"].actual == pytest.approx(150_000 / (180_000 * 28))
    assert by_id["guian-co2-per-cell-2030"].state is TargetState.ON_TRACK
    assert out.adjusted_baseline is not None and out.adjusted_baseline.valid
    assert model is not None
    expected = model.kwh_per_unit * 180_000 + model.base_load_kw * 24
    assert out.adjusted_baseline.expected_kwh == pytest.approx(expected)
    assert out.saving_kwh == pytest.approx(expected - 290_000)


def test_without_co2_or_production_the_figures_say_not_assessed() -> None:
    settings = load_energy_file(demo_energy_path(), zone=SHANGHAI)
    out = energy_performance(
        july_day(co2_location_kg=None, production_units=0.0),
        settings,
        load_coefficients().coefficients,
        at=DAY,
    )
    assert out.kgce_per_unit is None and out.kwh_per_unit is None
    assert out.indicators["unit_product_carbon"] is None
    assert all(t.state is TargetState.NOT_ASSESSED for t in out.targets)
    assert out.adjusted_baseline is None and out.saving_kwh is None
    assert out.scorecard.scores[-1].score is not None  # reuse rate needs no production
