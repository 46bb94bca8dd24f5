"""Plant-file validation: the demo plant is sound; broken files say file, field and problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from app.domain.plant import Resource
from app.domain.registers import RegisterKind
from app.plant.file import PlantFileError, demo_plant_path, load_plant, parse_plant


def test_demo_plant_is_the_guian_battery_factory() -> None:
    plant = load_plant()
    site = plant.site("guian")
    assert site.timezone == "Asia/Shanghai"
    assert site.regions() == ("site:guian", "CN-GZ", "CN-CSG", "CN")
    pv_kw = sum(m.rated_kw or 0 for m in site.meters if m.resource is Resource.PV)
    assert pv_kw == pytest.approx(19_470)
    production_areas = {"electrode", "cell-assembly", "formation", "module-pack"}
    assert production_areas <= {a.id for a, _ in site.walk_areas()}
    resources = {m.resource for m in site.meters}
    assert resources == set(Resource)
    assert 35 <= len(site.meters) <= 45


def test_register_spec_applies_multiplier_to_rollover() -> None:
    meter = next(m for _, m in load_plant().meters() if m.id == "el-grid-in-1")
    spec = meter.register_spec()
    assert spec.kind is RegisterKind.CUMULATIVE
    assert spec.rollover_at == pytest.approx(1_000_000 * 2000)
    assert spec.max_rate_per_hour == pytest.approx(18_000)


def _demo() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(demo_plant_path().read_text())


def _error(data: object) -> PlantFileError:
    with pytest.raises(PlantFileError) as info:
        parse_plant(yaml.safe_dump(data), source="broken.yaml")
    return info.value


def test_unknown_unit_names_the_meter_and_field() -> None:
    data = _demo()
    data["sites"][0]["meters"][3]["unit"] = "furlongs"
    err = _error(data)
    text = str(err)
    assert "broken.yaml: sites[0](guian).meters[3](pv-inv-01).unit" in text
    assert "furlongs" in text


def test_unit_that_does_not_fit_the_resource() -> None:
    data = _demo()
    data["sites"][0]["meters"][0]["unit"] = "m3"
    text = str(_error(data))
    assert "meters[0](el-grid-in-1)" in text
    assert "'m3'" in text and "energy" in text


def test_meter_in_unknown_area() -> None:
    data = _demo()
    data["sites"][0]["meters"][5]["area"] = "nowhere"
    text = str(_error(data))
    assert "sites[0](guian)" in text and "'nowhere'" in text


def test_duplicate_meter_ids_and_bad_timezone_reported_together() -> None:
    data = _demo()
    data["sites"][0]["timezone"] = "Mars/Olympus"
    text = str(_error(data))
    assert "sites[0](guian).timezone" in text and "Mars/Olympus" in text
    data = _demo()
    data["sites"][0]["meters"][1]["id"] = data["sites"][0]["meters"][0]["id"]
    assert "used more than once" in str(_error(data))


def test_missing_field_and_unknown_field() -> None:
    data = _demo()
    del data["sites"][0]["meters"][2]["register"]
    data["sites"][0]["meters"][4]["colour"] = "green"
    err = _error(data)
    fields = [field for field, _ in err.problems]
    assert "sites[0](guian).meters[2](el-grid-export).register" in fields
    assert "sites[0](guian).meters[4](pv-inv-02).colour" in fields


def test_not_yaml_and_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(PlantFileError, match=r"bad\.yaml: line 1"):
        parse_plant("name: [unclosed", source="bad.yaml")
    with pytest.raises(PlantFileError, match="cannot read file"):
        load_plant(tmp_path / "missing.yaml")
