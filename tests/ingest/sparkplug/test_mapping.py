"""The ``sparkplug:`` sections of a plant file: loading, checks against the plant."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.domain.registers import RegisterKind
from app.plant.file import PlantFileError, demo_plant_path, load_plant
from ingest.sparkplug import EdgeNodeId, load_plant_and_mapping, parse_mapping
from tests.ingest.sparkplug.support import DEVICE, GROUP, NODE, SECTIONS


def plant_file(tmp_path: Path, sections: dict[str, Any]) -> Path:
    data = yaml.safe_load(demo_plant_path().read_text(encoding="utf-8"))
    for site in data["sites"]:
        if site["id"] in sections:
            site["sparkplug"] = sections[site["id"]]
    path = tmp_path / "plant.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_the_section_is_read_from_the_plant_file(tmp_path: Path) -> None:
    plant, mapping = load_plant_and_mapping(plant_file(tmp_path, SECTIONS))
    assert plant == load_plant(plant_file(tmp_path, SECTIONS))  # the plant file knows it
    assert [len(site.sparkplug) for site in plant.sites] == [
        len(SECTIONS.get(site.id, [])) for site in plant.sites
    ]
    node = EdgeNodeId(GROUP, NODE)
    energy = mapping.lookup(node, DEVICE, "Energy/Import")
    assert energy is not None
    assert (energy.meter_id, energy.unit, energy.register) == (
        "el-grid-in-1",
        "kWh",
        RegisterKind.CUMULATIVE,
    )
    pv = mapping.lookup(node, DEVICE, "Power/PV5")
    assert pv is not None and (pv.unit, pv.register) == ("W", RegisterKind.INSTANTANEOUS)
    assert mapping.lookup(node, None, "Energy/Import") is None
    assert sorted(b.meter_id for b in mapping.meters_of(node, None)) == [
        "el-grid-in-1",
        "gas-coating-oven",
        "pv-inv-05",
    ]
    assert sorted(b.meter_id for b in mapping.meters_of(node, DEVICE)) == [
        "el-grid-in-1",
        "pv-inv-05",
    ]


def test_the_demo_plant_maps_every_meter_to_the_simulators_edge_node() -> None:
    plant, mapping = load_plant_and_mapping(demo_plant_path())
    assert plant == load_plant()
    assert sorted(b.meter_id for _, b in mapping) == sorted(m.id for m in plant.sites[0].meters)


def test_a_plant_file_without_the_section_has_an_empty_mapping(tmp_path: Path) -> None:
    data = yaml.safe_load(demo_plant_path().read_text(encoding="utf-8"))
    for site in data["sites"]:
        site.pop("sparkplug", None)
    path = tmp_path / "plain.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    plant, mapping = load_plant_and_mapping(path)
    assert len(mapping) == 0 and all(not site.sparkplug for site in plant.sites)


def _with(change: Any) -> dict[str, Any]:
    sections = copy.deepcopy(SECTIONS)
    change(sections["guian"])
    return sections


@pytest.mark.parametrize(
    ("sections", "problem"),
    [
        (
            _with(lambda s: s[1]["metrics"].update({"X": "no-such-meter"})),
            "meter 'no-such-meter' is not a meter of site 'guian'",
        ),
        (
            _with(
                lambda s: s[1]["metrics"].update(
                    {"Energy/Import": {"meter": "el-grid-in-1", "unit": "m3"}}
                )
            ),
            "m3",
        ),
        (_with(lambda s: s[1]["metrics"].update({"Y": "el-grid-in-1"})), "mapped twice"),
        (
            _with(
                lambda s: s[1]["metrics"].update(
                    {"Energy/Import": {"meter": "el-grid-in-1", "register": "instantaneous"}}
                )
            ),
            "meter 'el-grid-in-1' is 'cumulative'",
        ),
        (_with(lambda s: s[0].update({"edge_node": "a/b"})), "edge_node"),
        (_with(lambda s: s[0].update({"extra": 1})), "extra"),
        ({"nowhere": []}, "site is not in the plant"),
    ],
)
def test_mapping_problems_name_the_field(sections: dict[str, Any], problem: str) -> None:
    with pytest.raises(PlantFileError) as caught:
        parse_mapping(load_plant(), sections)
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("sections", "problem"),
    [
        (
            _with(lambda s: s[1]["metrics"].update({"X": "no-such-meter"})),
            "names meter 'no-such-meter', which this site does not have",
        ),
        (
            _with(lambda s: s[0].update({"edge_node": "a/b"})),
            "sites[0](guian).sparkplug[0].edge_node",
        ),
        (_with(lambda s: s[1]["metrics"].update({"Y": "el-grid-in-1"})), "mapped twice"),
    ],
)
def test_the_plant_file_refuses_a_bad_section(
    tmp_path: Path, sections: dict[str, Any], problem: str
) -> None:
    with pytest.raises(PlantFileError) as caught:
        load_plant_and_mapping(plant_file(tmp_path, sections))
    assert problem in str(caught.value)
