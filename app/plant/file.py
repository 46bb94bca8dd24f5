"""Read and validate a plant YAML file, naming the file and field of every problem.

Each site's optional ``sparkplug:`` list (edge nodes and devices whose metrics are the
site's meters, ``app.domain.plant.SparkplugSource``) is read with the rest; a metric
naming a meter the site lacks is refused here, units and register kinds are checked
when the ingester compiles the mapping (``ingest.sparkplug.mapping_for``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from app.domain.plant import Plant

DEMO_PLANT = "demo_battery_guian.yaml"


class PlantFileError(ValueError):
    """The plant file cannot be used; the message names file, field path and problem."""

    def __init__(self, path: str, problems: list[tuple[str, str]]) -> None:
        self.path = path
        self.problems = problems
        lines = [
            f"{path}: {field}: {problem}" if field else f"{path}: {problem}"
            for field, problem in problems
        ]
        super().__init__("invalid plant file\n" + "\n".join(lines))


def demo_plant_path() -> Path:
    """The packaged demo plant: a battery factory in Gui'an, Guizhou."""
    return Path(str(resources.files("app") / "data" / "plants" / DEMO_PLANT))


def load_plant(path: Path | str | None = None) -> Plant:
    """Load a plant file (the packaged demo plant when no path is given)."""
    plant_path = Path(path) if path else demo_plant_path()
    try:
        text = plant_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlantFileError(str(plant_path), [("", f"cannot read file: {exc.strerror}")]) from exc
    return parse_plant(text, source=str(plant_path))


def parse_plant(text: str, *, source: str = "<plant>") -> Plant:
    """Validate plant YAML text."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise PlantFileError(source, [(where, f"not valid YAML: {exc}")]) from exc
    if not isinstance(data, dict):
        raise PlantFileError(
            source, [("", "the top level must be a mapping with 'name' and 'sites'")]
        )
    try:
        return Plant.model_validate(data)
    except ValidationError as exc:
        raise PlantFileError(
            source, [(_field_path(err["loc"], data), err["msg"]) for err in exc.errors()]
        ) from exc


def _field_path(loc: tuple[int | str, ...], data: Any) -> str:
    """Turn pydantic's location into ``sites[0].meters[3].unit`` (meter id added when known)."""
    parts: list[str] = []
    node: Any = data
    for key in loc:
        if isinstance(key, int):
            label = f"[{key}]"
            if isinstance(node, list) and key < len(node):
                node = node[key]
                if isinstance(node, dict) and "id" in node:
                    label = f"[{key}]({node['id']})"
            parts.append(label)
        else:
            if isinstance(node, dict):
                node = node.get(key)
            else:
                # a validator label such as 'function-after[...]' is not a field
                continue
            parts.append(("." if parts else "") + key)
    return "".join(parts)
