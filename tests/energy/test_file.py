"""The site energy file: the demo's settings as domain values, and errors that name the field."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from app.domain.tariffs import TouPeriod
from app.energy.catalogue import load_coefficients
from app.energy.file import EnergyFileError, demo_energy_path, load_energy_file, parse_energy_file
from app.plant.file import load_plant

SHANGHAI = ZoneInfo("Asia/Shanghai")


def demo_meter_ids() -> frozenset[str]:
    site = load_plant().sites[0]
    return frozenset(m.id for m in site.meters)


def test_demo_energy_file_gives_a_valid_baseline_and_marked_illustrative_prices() -> None:
    settings = load_energy_file(demo_energy_path(), zone=SHANGHAI, meter_ids=demo_meter_ids())
    assert settings.site_id == "guian" and settings.illustrative
    assert settings.baseline is not None
    assert settings.baseline.start == datetime(2024, 12, 31, 16, tzinfo=UTC)  # local midnight
    model = settings.baseline.fit()
    assert model is not None and model.valid and model.n == 12
    assert model.r_squared > 0.75
    # The illustrative points were made as 1.08 kWh/cell + 3,800 kW with ~1 % noise.
    assert model.kwh_per_unit == pytest.approx(1.08, rel=0.15)
    assert model.base_load_kw == pytest.approx(3800, rel=0.15)
    assert all(t.illustrative for t in settings.tariffs)
    electricity = next(t for t in settings.tariffs if t.resource == "electricity")
    assert (
        electricity.period_at(datetime(2026, 7, 15, 19, 30, tzinfo=SHANGHAI))
        is TouPeriod.CRITICAL_PEAK
    )
    assert electricity.period_at(datetime(2026, 10, 1, 10, tzinfo=SHANGHAI)) is TouPeriod.FLAT
    assert electricity.demand_charge is not None
    assert electricity.demand_charge.price_per_month == Decimal("38.00")
    assert [s.id for s in settings.scorecard] == [
        "unit_product_energy",
        "unit_product_water",
        "unit_product_carbon",
        "renewable_share",
        "water_reuse_rate",
    ]
    assert all(s.weight is None for s in settings.scorecard)
    assert settings.intake_meters == ("water-main",)
    assert {t.target.metric for t in settings.targets} == {"co2_per_unit", "co2_per_output_value"}
    assert settings.output_value_per_unit == Decimal("28.00")


def test_demo_gas_coefficient_is_derived_from_its_heating_value_and_site_scoped() -> None:
    settings = load_energy_file(demo_energy_path(), zone=SHANGHAI)
    catalogue = load_coefficients().with_rows(settings.coefficients, "site:guian")
    assert settings.coefficients_over(load_coefficients().coefficients) == catalogue.coefficients
    gas = catalogue.resolve(
        carrier="gas",
        method=settings.boundary.gas_method,
        at=datetime(2026, 7, 1, tzinfo=UTC),
        site_id="guian",
    )
    assert gas.id == "guian-gas-declared-2026" and gas.status == "derived"
    assert gas.kgce_per_unit == pytest.approx(34_900 / 29_307.6)
    assert gas.valid_from == datetime(2026, 1, 1, tzinfo=SHANGHAI)


MINIMAL = """
version: 1
site: s1
boundary: {carriers: [electricity]}
"""


def test_minimal_file_and_errors_that_name_the_field() -> None:
    settings = parse_energy_file(MINIMAL, zone=SHANGHAI)
    assert settings.baseline is None and settings.tariffs == () and settings.scorecard == ()
    with pytest.raises(EnergyFileError, match=r"<energy>: boundary.carriers.0"):
        parse_energy_file(MINIMAL.replace("[electricity]", "[coal]"), zone=SHANGHAI)
    with pytest.raises(EnergyFileError, match=r"colour"):
        parse_energy_file(MINIMAL + "colour: red\n", zone=SHANGHAI)
    bad_tariff = MINIMAL + (
        "tariffs:\n- {id: t, resource: electricity, currency: CNY, valid_from: 2026-01-01,"
        " source: s, prices: {peak: '1.0'},"
        " bands: [{period: peak, start: '08:00', end: '12:00'}]}\n"
    )
    with pytest.raises(EnergyFileError, match="no flat price"):
        parse_energy_file(bad_tariff, zone=SHANGHAI)
    no_value = MINIMAL + (
        "targets:\n- {id: t, metric: co2_per_output_value, base_value: 1, base_period: '2025',"
        " reduction: 0.18, plan_start: 2026-01-01, plan_end: 2031-01-01}\n"
    )
    with pytest.raises(EnergyFileError, match="output_value_per_unit"):
        parse_energy_file(no_value, zone=SHANGHAI)
    water = MINIMAL + "water_reuse: {intake_meters: [nope], reuse_meters: []}\n"
    with pytest.raises(EnergyFileError, match=r"unknown meters \['nope'\]"):
        parse_energy_file(water, zone=SHANGHAI, meter_ids=frozenset({"water-main"}))
    with pytest.raises(EnergyFileError, match="not valid YAML"):
        parse_energy_file("a: [", zone=SHANGHAI)
