"""Effective rules: defaults < site < area (outer to inner) < meter; overrides per level."""

from __future__ import annotations

import pytest
import yaml

from app.alerts.rules import DEFAULT_RULES, RuleBook, parse_overrides
from app.domain.plant import AlertRules, Meter, Plant
from app.plant.file import demo_plant_path, parse_plant


def nested_plant() -> Plant:
    data = yaml.safe_load(demo_plant_path().read_text())
    site = data["sites"][0]
    site["alerts"] = {"spike_sigma": 5.0, "offline_missed_intervals": 4}
    utilities = next(a for a in site["areas"] if a["id"] == "utilities")
    utilities["alerts"] = {"spike_sigma": 6.0, "spike_min_duration_s": 300}
    compressors = next(a for a in utilities["areas"] if a["id"] == "compressors")
    compressors["alerts"] = {"spike_min_duration_s": 600}
    meter = next(m for m in site["meters"] if m["id"] == "el-comp-02")
    meter["alerts"] = {"spike_abs_kw": 400}
    return parse_plant(yaml.safe_dump(data))


def meter(plant: Plant, meter_id: str) -> Meter:
    return next(m for _, m in plant.meters() if m.id == meter_id)


def test_more_specific_levels_win() -> None:
    plant = nested_plant()
    book = RuleBook(plant)
    comp = book.for_meter(meter(plant, "el-comp-02"))
    assert comp.spike_sigma == 6.0  # utilities
    assert comp.spike_min_duration_s == 600  # compressors, inside utilities
    assert comp.spike_abs_kw == 400  # the meter itself
    assert comp.offline_missed_intervals == 4  # the site
    assert comp.pv_shortfall_ratio == DEFAULT_RULES.pv_shortfall_ratio
    office = book.for_meter(meter(plant, "el-office"))
    assert (office.spike_sigma, office.spike_min_duration_s) == (5.0, 120.0)
    assert book.for_area("guian", "compressors").spike_min_duration_s == 600


def test_an_override_replaces_the_plant_file_at_its_own_level_only() -> None:
    plant = nested_plant()
    overrides = parse_overrides(
        {
            ("site", "guian"): {"spike_sigma": 3.0, "enabled": False},
            ("area", "guian/compressors"): {"spike_min_duration_s": 60},
            ("meter", "el-comp-01"): {"enabled": True},
            ("meter", "el-gone"): {"spike_sigma": "not a number"},  # stale rows are skipped
        }
    )
    assert set(overrides) == {
        ("site", "guian"),
        ("area", "guian/compressors"),
        ("meter", "el-comp-01"),
    }
    book = RuleBook(plant, overrides)
    comp1 = book.for_meter(meter(plant, "el-comp-01"))
    assert comp1.spike_sigma == 6.0  # utilities in the plant file still beats the site
    assert comp1.spike_min_duration_s == 60
    assert comp1.enabled is True
    assert book.for_meter(meter(plant, "el-office")).enabled is False
    assert book.for_meter(meter(plant, "el-office")).spike_sigma == 3.0


def test_rules_build_the_domain_rules() -> None:
    rules = DEFAULT_RULES.merged(AlertRules(spike_sigma=5.0, pv_shortfall_ratio=0.3))
    spike = rules.spike_rule()
    assert (spike.sigma_k, spike.min_duration_s, spike.min_excess) == (5.0, 120.0, 1.0)
    pv = rules.pv_rule(rated_kw=1000)
    assert (pv.ratio_threshold, pv.clear_ratio, pv.min_expected_kw) == pytest.approx(
        (0.3, 0.45, 100.0)
    )
    assert DEFAULT_RULES.merged(None) is DEFAULT_RULES
