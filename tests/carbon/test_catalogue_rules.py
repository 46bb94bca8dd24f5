"""The catalogue's ``instrument_rules:``: packaged, overridden per region, refused when wrong."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from app.carbon.catalogue import CatalogueError, load_catalogue
from app.domain.instruments import DEFAULT_REGION_RULES

OVERRIDE = """
version: "rules-1"
factors: []
instrument_rules:
- region: GB
  instrument_type: REGO
  source: "REGO only, for this operator"
"""


def test_the_packaged_rules_are_the_documented_ones() -> None:
    rules = load_catalogue().instrument_rules
    assert set(rules) == set(DEFAULT_REGION_RULES)
    irec = next(r for r in rules if r.instrument_type == "I-REC(E)")
    assert (irec.region, irec.generation_not_after) == ("CN", date(2024, 12, 31))


def test_an_override_replaces_the_rules_of_its_regions(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(OVERRIDE)
    rules = load_catalogue(overrides=path).instrument_rules
    assert {(r.region, r.instrument_type) for r in rules} == {
        ("CN", "GEC"),
        ("CN", "I-REC(E)"),
        ("GB", "REGO"),
    }


def test_an_unknown_type_is_refused_with_its_place(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(OVERRIDE.replace("REGO", "GREEN-TAG"))
    with pytest.raises(CatalogueError, match=r"instrument rule #1.*instrument_type.*GREEN-TAG"):
        load_catalogue(overrides=path)
