"""Which Sparkplug metric is which meter: the ``sparkplug:`` section of a plant site.

Each site of the plant file may carry a list of sources, one per edge node or
device, each mapping metric names to meter ids of that site::

    sparkplug:
      - group: guian-plant
        edge_node: substation-gw
        device: pm-grid-1            # leave out for the edge node's own metrics
        metrics:
          Energy/Import: el-grid-in-1
          Energy/Export: {meter: el-grid-export, unit: Wh, register: cumulative}

The unit and register kind are the meter's; a ``unit`` here is what the gateway sends
and must be convertible to the meter's unit; a ``register`` here must be the meter's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app.domain.plant import Plant, SparkplugMetric, SparkplugSource
from app.domain.registers import RegisterKind
from app.domain.units import UnitMismatchError, UnknownUnitError, check_compatible
from app.plant.file import PlantFileError, load_plant
from ingest.sparkplug.topic import EdgeNodeId

MetricBinding = SparkplugMetric  # the long form of a mapped metric (``app.domain.plant``)


@dataclass(frozen=True, slots=True)
class MeterBinding:
    """A mapped metric: its meter, the unit it is sent in and the meter's register kind."""

    site_id: str
    meter_id: str
    unit: str
    register: RegisterKind


_EMPTY: Mapping[str, MeterBinding] = {}

MetricKey = tuple[EdgeNodeId, str | None, str]  # (edge node, device, metric name)


class SparkplugMapping:
    """The compiled mapping of a whole plant (built by ``compile_mapping``)."""

    def __init__(self, bindings: Mapping[MetricKey, MeterBinding]) -> None:
        self._bindings = dict(bindings)
        self._by_node: dict[EdgeNodeId, list[tuple[str | None, MeterBinding]]] = {}
        self._by_source: dict[tuple[EdgeNodeId, str | None], dict[str, MeterBinding]] = {}
        for (node, device, name), binding in self._bindings.items():
            self._by_node.setdefault(node, []).append((device, binding))
            self._by_source.setdefault((node, device), {})[name] = binding

    def lookup(self, node: EdgeNodeId, device: str | None, metric: str) -> MeterBinding | None:
        return self._bindings.get((node, device, metric))

    def source(self, node: EdgeNodeId, device: str | None) -> Mapping[str, MeterBinding]:
        """The metric names of one edge node (``device`` None) or device, and their meters."""
        return self._by_source.get((node, device), _EMPTY)

    def meters_of(self, node: EdgeNodeId, device: str | None) -> list[MeterBinding]:
        """The meters of one device, or (``device`` None) of the node and all its devices."""
        return [b for d, b in self._by_node.get(node, []) if device is None or d == device]

    def __iter__(self) -> Iterator[tuple[MetricKey, MeterBinding]]:
        return iter(self._bindings.items())

    def __len__(self) -> int:
        return len(self._bindings)


def compile_mapping(
    plant: Plant, sections: Mapping[str, list[SparkplugSource]]
) -> SparkplugMapping:
    """Check each site's sources against the plant and index them.

    Raises:
        ValueError: a meter not of that site, a unit the meter cannot take, a metric or
            meter mapped twice.
    """
    bindings: dict[MetricKey, MeterBinding] = {}
    bound: dict[str, MetricKey] = {}
    for site_id, sources in sections.items():
        site = plant.site(site_id)
        meters = {meter.id: meter for meter in site.meters}
        for index, source in enumerate(sources):
            node = EdgeNodeId(source.group, source.edge_node)
            where = f"sites.{site_id}.sparkplug[{index}]"
            for name, target in source.metrics.items():
                binding = (
                    target if isinstance(target, MetricBinding) else MetricBinding(meter=target)
                )
                meter = meters.get(binding.meter)
                if meter is None:
                    raise ValueError(
                        f"{where}.metrics[{name!r}]: meter {binding.meter!r} is not a meter "
                        f"of site {site_id!r}"
                    )
                wanted = binding.register_kind
                if wanted is not None and wanted is not meter.register_kind:
                    raise ValueError(
                        f"{where}.metrics[{name!r}]: register {wanted.value!r}, but "
                        f"meter {meter.id!r} is {meter.register_kind.value!r}"
                    )
                unit = binding.unit or meter.unit
                try:
                    check_compatible(unit, meter.unit)
                except (UnknownUnitError, UnitMismatchError) as exc:
                    raise ValueError(f"{where}.metrics[{name!r}]: {exc}") from None
                key = (node, source.device, name)
                if key in bindings:
                    raise ValueError(f"{where}.metrics[{name!r}] is mapped twice")
                if meter.id in bound:
                    # two sources for one meter would store two series under one key
                    raise ValueError(
                        f"{where}.metrics[{name!r}]: meter {meter.id!r} is mapped twice"
                    )
                bound[meter.id] = key
                bindings[key] = MeterBinding(site_id, meter.id, unit, meter.register_kind)
    return SparkplugMapping(bindings)


def mapping_for(plant: Plant) -> SparkplugMapping:
    """The compiled mapping of the plant's ``sparkplug:`` sections (``Site.sparkplug``).

    Raises:
        ValueError: a unit the meter cannot take, a register kind not the meter's, a
            metric or meter mapped twice.
    """
    return compile_mapping(plant, {site.id: list(site.sparkplug) for site in plant.sites})


def load_plant_and_mapping(path: Path | str) -> tuple[Plant, SparkplugMapping]:
    """Read a plant file: the plant and the mapping of its ``sparkplug:`` sections."""
    plant = load_plant(path)
    try:
        return plant, mapping_for(plant)
    except ValueError as exc:
        raise PlantFileError(str(path), [("", str(exc))]) from exc


def parse_mapping(
    plant: Plant, raw_sections: Mapping[str, Any], *, source: str = "<plant>"
) -> SparkplugMapping:
    """Validate raw ``sparkplug:`` sections (by site id) against a plant (without them)."""
    sections: dict[str, list[SparkplugSource]] = {}
    problems: list[tuple[str, str]] = []
    site_ids = {site.id for site in plant.sites}
    for site_id, raw in raw_sections.items():
        if site_id not in site_ids:
            problems.append((f"sites.{site_id}.sparkplug", "site is not in the plant"))
            continue
        if not isinstance(raw, list):
            problems.append((f"sites.{site_id}.sparkplug", "must be a list of sources"))
            continue
        sources: list[SparkplugSource] = []
        for index, item in enumerate(raw):
            try:
                sources.append(SparkplugSource.model_validate(item))
            except ValidationError as exc:
                for err in exc.errors():
                    loc = ".".join(str(p) for p in err["loc"])
                    problems.append((f"sites.{site_id}.sparkplug[{index}].{loc}", err["msg"]))
        sections[site_id] = sources
    if problems:
        raise PlantFileError(source, problems)
    try:
        return compile_mapping(plant, sections)
    except ValueError as exc:
        raise PlantFileError(source, [("", str(exc))]) from exc
