"""Standard coal (GB/T 2589-2020): the catalogue, resolution, methods and totals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.standard_coal import (
    KJ_PER_KGCE,
    CoalCoefficient,
    CoefficientNotFound,
    InvalidCoefficientError,
    coefficient_from_heating_value,
    comprehensive_energy,
    kgce_per_kwh_calorific,
)
from app.energy.catalogue import (
    CoefficientCatalogueError,
    coefficient_from_mapping,
    load_coefficients,
)

CST = timezone(timedelta(hours=8))
AT = datetime(2026, 7, 1, tzinfo=CST)


def test_packaged_catalogue_holds_the_reference_coefficients_with_their_status() -> None:
    catalogue = load_coefficients()
    electricity = catalogue.get("cn-electricity-calorific-gbt2589-2020")
    gas = catalogue.get("cn-gas-reference-gbt2589-2020")
    assert (electricity.kgce_per_unit, electricity.status) == (0.1229, "derived")
    assert (gas.kgce_per_unit, gas.status) == (1.2143, "secondary")
    # The arithmetic in the notes holds: 860 kcal ÷ 7,000 kcal and 35,588 kJ ÷ 29,307.6 kJ.
    assert round(860 / 7000, 4) == electricity.kgce_per_unit
    assert round(kgce_per_kwh_calorific(), 5) == 0.12284
    for mj, row in [(7.54, "cn-water-fresh-gbt2589"), (3.76, "cn-steam-low-pressure-gbt2589")]:
        assert f"{mj * 1000 / KJ_PER_KGCE:.4f}" in catalogue.get(row).notes
    assert round(35_588 / KJ_PER_KGCE, 4) == gas.kgce_per_unit
    media = [c for c in catalogue.coefficients if c.carrier not in ("electricity", "gas")]
    assert media and all(c.status == "unverified" for c in media)
    assert all(c.valid_from == datetime(2021, 4, 1, tzinfo=CST) for c in catalogue.coefficients)


def test_resolution_takes_defaults_and_prefers_a_site_row() -> None:
    catalogue = load_coefficients()
    assert catalogue.resolve(carrier="electricity", at=AT).method == "calorific_equivalent"
    assert catalogue.resolve(carrier="gas", at=AT).id == "cn-gas-reference-gbt2589-2020"
    declared = coefficient_from_heating_value(
        id="guian-gas-declared-2026",
        lower_heating_value_kj_per_m3=34_900,
        valid_from=datetime(2026, 1, 1, tzinfo=CST),
        valid_to=None,
        source="supplier declaration",
        scope="site:guian",
    )
    site = catalogue.with_rows([declared], "guian")
    found = site.resolve(carrier="gas", method="declared_heating_value", at=AT, site_id="guian")
    assert found.kgce_per_unit == pytest.approx(34_900 / 29_307.6)
    assert found.status == "derived" and "34900 kJ/m³" in found.notes
    with pytest.raises(CoefficientNotFound):
        site.resolve(carrier="gas", method="declared_heating_value", at=AT, site_id="other")
    with pytest.raises(CoefficientNotFound, match="equivalent_value"):
        catalogue.resolve(carrier="electricity", method="equivalent_value", at=AT)
    with pytest.raises(CoefficientNotFound):
        catalogue.resolve(carrier="electricity", at=datetime(2020, 1, 1, tzinfo=UTC))


def test_equivalent_value_method_is_visible_on_the_figure() -> None:
    row = coefficient_from_mapping(
        {
            "id": "site-electricity-equivalent-2025",
            "carrier": "electricity",
            "method": "equivalent_value",
            "kgce_per_unit": 0.3,
            "unit": "kgce/kWh",
            "valid_from": "2026-01-01",
            "source": "operator",
            "status": "unverified",
        },
        source="test",
    )
    total = comprehensive_energy({"electricity": 1000.0}, {"electricity": row})
    assert total.total_kgce == pytest.approx(300)
    assert "electricity converted by the equivalent value method" in total.notes
    assert any("unverified" in note for note in total.notes)


@given(kwh=st.floats(0, 1e9), gas=st.floats(0, 1e7), water=st.floats(0, 1e6))
def test_comprehensive_energy_is_the_sum_of_its_lines(kwh: float, gas: float, water: float) -> None:
    catalogue = load_coefficients()
    coefficients = {c: catalogue.resolve(carrier=c, at=AT) for c in ("electricity", "gas", "water")}
    total = comprehensive_energy({"electricity": kwh, "gas": gas, "water": water}, coefficients)
    expected = kwh * 0.1229 + gas * 1.2143 + water * 0.2571
    assert total.total_kgce == pytest.approx(expected, rel=1e-12, abs=1e-9)
    assert total.total_tce == pytest.approx(expected / 1000, rel=1e-12, abs=1e-12)
    assert total.coefficient_ids == (
        "cn-electricity-calorific-gbt2589-2020",
        "cn-gas-reference-gbt2589-2020",
        "cn-water-fresh-gbt2589",
    )


def test_a_used_carrier_without_a_coefficient_is_refused() -> None:
    with pytest.raises(ValueError, match="no kgce coefficient"):
        comprehensive_energy({"gas": 5.0}, {})
    assert comprehensive_energy({"gas": 0.0}, {}).total_kgce == 0
    assert comprehensive_energy({}, {}).per_unit(0) is None


def test_invalid_rows_name_their_field() -> None:
    good = {
        "id": "x",
        "carrier": "gas",
        "method": "reference",
        "kgce_per_unit": 1.2,
        "unit": "kgce/m3",
        "valid_from": "2026-01-01",
        "source": "s",
        "status": "secondary",
    }
    for field, bad, message in [
        ("method", "calorific_equivalent", "does not apply to gas"),
        ("unit", "kgce/kWh", "kgce/m3"),
        ("status", "guessed", "status"),
        ("kgce_per_unit", -1, "> 0"),
        ("valid_from", "2026-01-01T00:00:00", "UTC offset"),
    ]:
        with pytest.raises(CoefficientCatalogueError, match=message):
            coefficient_from_mapping({**good, field: bad}, source="t")
    with pytest.raises(CoefficientCatalogueError, match="'colour' is not known"):
        coefficient_from_mapping({**good, "colour": "red"}, source="t")
    with pytest.raises(InvalidCoefficientError):
        CoalCoefficient(
            id="y",
            carrier="steam",
            method="configured",
            kgce_per_unit=0.1,
            unit="kgce/m3",
            valid_from=AT,
            valid_to=None,
            source="s",
            status="unverified",
        )


def test_catalogue_file_errors_say_where(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("version: 1\ncoefficients:\n- {id: a}\n", encoding="utf-8")
    with pytest.raises(CoefficientCatalogueError, match=r"row #0 \('a'\).*'carrier' is missing"):
        load_coefficients(path)
    with pytest.raises(CoefficientCatalogueError, match="cannot be read"):
        load_coefficients(tmp_path / "missing.yaml")
