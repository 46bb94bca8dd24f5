"""The packaged emission-factor catalogue and operator override files."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path

import pytest

from app.carbon.catalogue import Catalogue, CatalogueError, load_catalogue
from app.domain.factors import STATUSES, EmissionFactor

CST = timezone(timedelta(hours=8))
GUIAN_REGIONS = ("site:guian", "CN-GZ", "CN-CSG", "CN")

GOOD_ROW = """\
- id: site-guian-water-supply
  region: "site:guian"
  resource: water
  method: supply
  value: 0.17088
  unit: kgCO2e/m3
  gas_basis: CO2e
  data_year: 2025
  valid_from: 2026-01-01T00:00:00+08:00
  valid_to: null
  source: placeholder
  status: unverified
"""


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


def write(tmp_path: Path, body: str, version: str = "test-1") -> Path:
    path = tmp_path / "overrides.yaml"
    path.write_text(f'version: "{version}"\nfactors:\n{body}', encoding="utf-8")
    return path


def test_packaged_catalogue_loads_with_a_version(catalogue: Catalogue) -> None:
    assert catalogue.version
    assert len(catalogue.factors) >= 12
    assert catalogue.overridden_ids == frozenset()


def test_every_factor_has_a_source_and_status_and_ids_are_unique(catalogue: Catalogue) -> None:
    ids = [f.id for f in catalogue.factors]
    assert len(ids) == len(set(ids))
    for factor in catalogue.factors:
        assert factor.source.strip(), factor.id
        assert factor.status in STATUSES, factor.id
        assert factor.notes, factor.id


def test_china_2023_factors(catalogue: Catalogue) -> None:
    location = catalogue.get("cn-national-location-2023")
    assert (location.value, location.unit, location.gas_basis) == (0.5306, "kgCO2/kWh", "CO2")
    assert location.kg_per_unit == 0.5306
    assert catalogue.get("cn-national-market-residual-2023").kg_per_unit == 0.6096
    assert catalogue.get("cn-gz-location-2022").status == "unverified"


def test_china_gas_default_is_the_gbt_derivation_and_ipcc_is_reference(
    catalogue: Catalogue,
) -> None:
    gas = catalogue.get("cn-gas-fuel-gbt32150-2015")
    derived = 389.31 / 1e4 * 1e-3 * 15.3 * 0.99 * 44 / 12 * 1000  # kg CO2 per Nm3
    assert round(derived, 3) == gas.value == 2.162
    assert gas.status == "derived"
    for number in ("389.31", "15.3", "0.99", "44/12"):
        assert number in gas.notes
    ipcc = catalogue.get("ipcc-2006-natural-gas-per-tj")
    assert ipcc.kg_per_unit is None
    found = catalogue.resolve(
        regions=GUIAN_REGIONS, resource="gas", method="fuel", at=datetime(2026, 6, 1, tzinfo=CST)
    )
    assert found.factor_id == gas.id


def test_each_series_has_contiguous_non_overlapping_windows(catalogue: Catalogue) -> None:
    series: dict[tuple[str, str, str], list[EmissionFactor]] = defaultdict(list)
    for factor in catalogue.factors:
        series[factor.region, factor.resource, factor.method].append(factor)
    for key, rows in series.items():
        rows.sort(key=lambda f: f.valid_from)
        for earlier, later in pairwise(rows):
            assert earlier.valid_to == later.valid_from, key


@pytest.mark.parametrize(
    ("moment", "method", "expected", "fallback"),
    [
        (datetime(2025, 6, 15, 10, tzinfo=CST), "location", "cn-gz-location-2022", None),
        (
            datetime(2025, 6, 15, 10, tzinfo=CST),
            "market_residual",
            "cn-national-market-residual-2022",
            None,
        ),
        (datetime(2026, 6, 15, 10, tzinfo=CST), "location", "cn-csg-location-2023", None),
        (
            datetime(2026, 6, 15, 10, tzinfo=CST),
            "market_residual",
            "cn-national-market-residual-2023",
            None,
        ),
    ],
)
def test_guizhou_site_resolution(
    catalogue: Catalogue, moment: datetime, method: str, expected: str, fallback: str | None
) -> None:
    found = catalogue.resolve(
        regions=GUIAN_REGIONS, resource="electricity", method=method, at=moment
    )
    assert (found.factor_id, found.fallback_from) == (expected, fallback)


def test_uk_market_based_falls_back_to_desnz_location(catalogue: Catalogue) -> None:
    found = catalogue.resolve(
        regions=["GB"],
        resource="electricity",
        method="market_residual",
        at=datetime(2024, 7, 1, tzinfo=UTC),
    )
    assert (found.factor_id, found.fallback_from) == ("gb-desnz-location-2024", "market_residual")


def test_override_replaces_by_id_and_adds_site_factors(tmp_path: Path) -> None:
    body = (
        GOOD_ROW
        + """\
- id: cn-csg-location-2023
  region: CN-CSG
  resource: electricity
  method: location
  value: 0.4
  unit: kgCO2/kWh
  gas_basis: CO2
  data_year: 2023
  valid_from: 2026-01-15T00:00:00+08:00
  source: operator correction
  status: published
"""
    )
    merged = load_catalogue(overrides=write(tmp_path, body, "guian-2026.1"))
    assert merged.version == f"{load_catalogue().version}+guian-2026.1"
    assert merged.overridden_ids == frozenset({"cn-csg-location-2023"})
    assert [f.id for f in merged.factors].count("cn-csg-location-2023") == 1
    assert merged.get("cn-csg-location-2023").value == 0.4
    moment = datetime(2026, 6, 15, 10, tzinfo=CST)
    water = merged.resolve(regions=GUIAN_REGIONS, resource="water", method="supply", at=moment)
    assert water.factor_id == "site-guian-water-supply"
    with pytest.raises(LookupError):
        merged.resolve(regions=["CN"], resource="water", method="supply", at=moment)


def test_a_catalogue_path_replaces_the_packaged_file(tmp_path: Path) -> None:
    only = load_catalogue(path=write(tmp_path, GOOD_ROW, "mine"))
    assert only.version == "mine"
    assert [f.id for f in only.factors] == ["site-guian-water-supply"]


@pytest.mark.parametrize(
    ("old", "new", "field_name"),
    [
        ("  value: 0.17088\n", "", "value"),
        ("  value: 0.17088\n", "  value: lots\n", "value"),
        ("  unit: kgCO2e/m3\n", "  unit: kgCO2e/kWh\n", "unit"),
        ("  status: unverified\n", "  status: official\n", "status"),
        (
            "  valid_from: 2026-01-01T00:00:00+08:00\n",
            "  valid_from: 2026-01-01T00:00:00\n",
            "valid_from",
        ),
        ("  valid_to: null\n", "  valid_to: someday\n", "valid_to"),
        ('  region: "site:guian"\n', "  region: NO\n", "region"),
        ("  data_year: 2025\n", "  data_year: 2025.5\n", "data_year"),
        ("  source: placeholder\n", "  sourse: placeholder\n", "source"),
    ],
)
def test_broken_factor_names_file_factor_and_field(
    tmp_path: Path, old: str, new: str, field_name: str
) -> None:
    assert old in GOOD_ROW
    path = write(tmp_path, GOOD_ROW.replace(old, new))
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(overrides=path)
    message = str(caught.value)
    assert str(path) in message
    assert "site-guian-water-supply" in message
    assert "#0" in message
    assert f"field '{field_name}'" in message
    assert caught.value.field_name == field_name


def test_misspelt_field_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_ROW + "  valid_untill: 2027-01-01\n")
    with pytest.raises(CatalogueError, match="field 'valid_untill'"):
        load_catalogue(overrides=path)


def test_duplicate_id_in_one_file_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_ROW + GOOD_ROW)
    with pytest.raises(CatalogueError, match=r"factor #1 .*field 'id'.*earlier factor"):
        load_catalogue(overrides=path)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("factors: [\n", "not valid YAML"),
        ("- just a list\n", "top level"),
        ("factors: []\n", "field 'version'"),
        ('version: "1"\nfactors: {}\n', "field 'factors'"),
        ('version: "1"\nfactors: []\nextra: 1\n', "unknown top-level"),
        ('version: "1"\nfactors:\n- 42\n', "factor #0: must be a mapping"),
    ],
)
def test_broken_file_shapes(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogueError, match=match) as caught:
        load_catalogue(path=path)
    assert str(path) in str(caught.value)


def test_missing_override_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="cannot be read"):
        load_catalogue(overrides=tmp_path / "absent.yaml")
