"""Unit tables: canonical factors, spelling rules, mismatches and round trips."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.units import (
    ALIASES,
    CANONICAL_UNIT,
    UNITS,
    Dimension,
    Unit,
    UnitMismatchError,
    UnknownUnitError,
    accepted_units,
    check_compatible,
    convert,
    parse_unit,
    to_canonical,
)


@pytest.mark.parametrize(
    ("value", "unit", "canonical"),
    [
        (1500.0, "Wh", 1.5),
        (2.0, "kWh", 2.0),
        (2.0, "MWh", 2000.0),
        (3.6, "MJ", 1.0),
        (1.0, "GJ", 1000 / 3.6),
        (250.0, "W", 0.25),
        (40.0, "kW", 40.0),
        (1.5, "MW", 1500.0),
        (1500.0, "L", 1.5),
        (1500.0, "l", 1.5),
        (7.0, "m3", 7.0),
        (7.0, "m³", 7.0),
        (7.0, "Nm3", 7.0),
        (7.0, "Nm³", 7.0),
        (120.0, "pcs", 120.0),
        (120.0, "count", 120.0),
    ],
)
def test_to_canonical_applies_the_table_factor(value: float, unit: str, canonical: float) -> None:
    assert to_canonical(value, unit) == pytest.approx(canonical, rel=1e-12)


def test_one_gigajoule_is_277_point_7_recurring_kwh() -> None:
    assert to_canonical(1.0, "GJ") == pytest.approx(277.7777777777778, rel=1e-15)


def test_canonical_units_have_factor_one_and_their_dimension() -> None:
    assert dict(CANONICAL_UNIT) == {
        Dimension.ENERGY: "kWh",
        Dimension.POWER: "kW",
        Dimension.VOLUME: "m3",
        Dimension.COUNT: "unit",
    }
    for dimension, symbol in CANONICAL_UNIT.items():
        assert parse_unit(symbol) == Unit(symbol, dimension, 1.0)


@pytest.mark.parametrize(
    ("sent", "symbol"),
    [
        ("kwh", "kWh"),
        ("KWH", "kWh"),
        ("KWh", "kWh"),
        ("kw", "kW"),
        ("KW", "kW"),
        ("MWH", "MWh"),
        ("WH", "Wh"),
        ("M3", "m3"),
        ("NM3", "Nm3"),
        ("PCS", "pcs"),
        (" kWh ", "kWh"),
    ],
)
def test_gateway_spellings_resolve_through_the_alias_table(sent: str, symbol: str) -> None:
    assert parse_unit(sent) is UNITS[symbol]


@pytest.mark.parametrize("sent", ["mW", "mw", "mWh", "mwh", "mJ", "mj", "KWHH", "", "kg", "ft3"])
def test_ambiguous_or_unknown_spellings_are_rejected(sent: str) -> None:
    with pytest.raises(UnknownUnitError) as caught:
        parse_unit(sent)
    assert caught.value.unit == sent
    assert repr(sent) in str(caught.value)
    assert "accepted units: Wh, kWh, MWh" in str(caught.value)


def test_milliwatt_is_never_read_as_megawatt() -> None:
    assert parse_unit("MW").factor == 1000.0
    with pytest.raises(UnknownUnitError, match="case matters"):
        parse_unit("mW")


def test_unknown_unit_error_is_a_value_error_listing_every_accepted_unit() -> None:
    with pytest.raises(ValueError, match="unknown unit 'furlong'") as caught:
        parse_unit("furlong")
    for symbol in UNITS:
        assert symbol in str(caught.value)
    assert "case matters" not in str(caught.value)


def test_every_alias_points_at_a_table_entry_and_shadows_none() -> None:
    for alias, symbol in ALIASES.items():
        assert symbol in UNITS
        assert alias not in UNITS


def test_no_alias_confuses_milli_and_mega() -> None:
    for alias, symbol in ALIASES.items():
        if symbol.startswith("M") and symbol[1:2] in {"W", "J"}:
            assert alias.startswith("M")


def test_accepted_units_by_dimension() -> None:
    assert accepted_units(Dimension.POWER) == ["W", "kW", "MW"]
    assert accepted_units(Dimension.COUNT) == ["unit", "units", "pcs", "count"]
    assert len(accepted_units()) == len(UNITS)


def test_check_compatible_accepts_same_dimension() -> None:
    check_compatible("Wh", "kWh")
    check_compatible("Nm³", "m3")
    check_compatible("kwh", "MWh")


def test_check_compatible_rejects_volume_for_an_energy_meter() -> None:
    with pytest.raises(UnitMismatchError) as caught:
        check_compatible("m3", "kWh")
    assert str(caught.value) == (
        "unit 'm3' (volume) does not match the meter's configured unit 'kWh' (energy)"
    )
    assert caught.value.sent is UNITS["m3"]
    assert caught.value.configured is UNITS["kWh"]


def test_check_compatible_rejects_power_for_an_energy_meter() -> None:
    with pytest.raises(UnitMismatchError):
        check_compatible("kW", "kWh")


def test_check_compatible_reports_unknown_units_as_unknown() -> None:
    with pytest.raises(UnknownUnitError, match="'kVArh'"):
        check_compatible("kVArh", "kWh")


def test_convert_between_units_of_one_dimension() -> None:
    assert convert(1.0, "MWh", "GJ") == pytest.approx(3.6, rel=1e-12)
    assert convert(2500.0, "W", "MW") == pytest.approx(0.0025, rel=1e-12)
    assert convert(1.0, "m3", "L") == pytest.approx(1000.0, rel=1e-12)
    assert convert(42.0, "kwh", "kWh") == 42.0


def test_convert_refuses_other_dimensions() -> None:
    with pytest.raises(UnitMismatchError):
        convert(1.0, "kWh", "kW")


all_spellings = st.sampled_from(sorted([*UNITS, *ALIASES]))
values = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False)


@given(value=values, a=all_spellings, b=all_spellings)
def test_convert_round_trips(value: float, a: str, b: str) -> None:
    if parse_unit(a).dimension is not parse_unit(b).dimension:
        with pytest.raises(UnitMismatchError):
            convert(value, a, b)
        return
    back = convert(convert(value, a, b), b, a)
    assert math.isclose(back, value, rel_tol=1e-12, abs_tol=1e-300)


@given(value=values, unit=all_spellings)
def test_canonicalisation_matches_the_factor_table(value: float, unit: str) -> None:
    entry = parse_unit(unit)
    assert to_canonical(value, unit) == value * entry.factor
    canonical = CANONICAL_UNIT[entry.dimension]
    assert math.isclose(
        convert(value, unit, canonical), to_canonical(value, unit), rel_tol=1e-15, abs_tol=0.0
    )


@given(unit=st.text(max_size=8))
def test_anything_else_is_an_unknown_unit_named_in_the_message(unit: str) -> None:
    if unit.strip() in UNITS or unit.strip() in ALIASES:
        assert parse_unit(unit).symbol in UNITS
        return
    with pytest.raises(UnknownUnitError) as caught:
        parse_unit(unit)
    assert repr(unit) in str(caught.value)


def test_the_unknown_unit_message_reads_exactly() -> None:
    """What an operator reads in the dead letters: the unit, a hint only when it is a
    known unit in the wrong case, and the accepted units."""
    accepted = ", ".join(accepted_units())
    with pytest.raises(UnknownUnitError) as unknown:
        parse_unit("furlong")
    assert str(unknown.value) == f"unknown unit 'furlong'; accepted units: {accepted}"
    with pytest.raises(UnknownUnitError) as wrong_case:
        parse_unit("mW")
    assert str(wrong_case.value) == (
        "unknown unit 'mW' (case matters for SI prefixes: 'MW' is megawatt, 'mW' is not "
        f"accepted); accepted units: {accepted}"
    )
