"""Effective alert rules: defaults < site < area (outer to inner) < meter.

At each level the plant file's ``alerts:`` block applies first, then the runtime
override stored through the API for that same level, so an override never beats a
more specific rule; it replaces the plant file's value at its own level. Pure: the
overrides are handed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any, Final

from app.domain.detection import PvShortfallRule, SpikeRule
from app.domain.plant import AlertRules, Area, Meter, Plant, Resource, Site


class RuleScope(StrEnum):
    SITE = "site"
    AREA = "area"
    METER = "meter"


SPIKE_RESOURCES: Final = frozenset({Resource.ELECTRICITY, Resource.GAS})
"""Meters judged for spikes: consumption feeders and gas.

Not grid imports: import is consumption minus PV, so a passing cloud moves it by
megawatts in minutes (a normal simulated week opened 26 false alerts on the incomers);
a real consumption spike shows on the feeders and their areas."""

PV_MIN_EXPECTED_FRACTION: Final = 0.1
"""PV is judged only when a clear sky would give at least this fraction of the rating,
so dawn, dusk and low winter sun (where shading and orientation dominate) stay quiet."""

PV_CLEAR_MARGIN: Final = 0.15
"""A PV shortfall clears at ``ratio + margin`` of clear-sky output (hysteresis)."""


@dataclass(frozen=True, slots=True)
class EffectiveRules:
    """Every rule field resolved to a value; the defaults are the domain's."""

    spike_sigma: float = 4.0
    spike_abs_kw: float | None = None
    spike_min_excess_kw: float = 1.0
    spike_min_duration_s: float = 120.0
    offline_missed_intervals: int = 3
    pv_shortfall_ratio: float = 0.2
    enabled: bool = True

    def merged(self, rules: AlertRules | None) -> EffectiveRules:
        """These rules with every field ``rules`` sets replaced (``None`` inherits)."""
        if rules is None:
            return self
        changes = {k: v for k, v in rules.model_dump().items() if v is not None}
        return replace(self, **changes) if changes else self

    def spike_rule(self) -> SpikeRule:
        return SpikeRule(
            sigma_k=self.spike_sigma,
            abs_threshold=self.spike_abs_kw,
            min_excess=self.spike_min_excess_kw,
            min_duration_s=self.spike_min_duration_s,
        )

    def pv_rule(self, rated_kw: float) -> PvShortfallRule:
        ratio = self.pv_shortfall_ratio
        return PvShortfallRule(
            min_expected_kw=PV_MIN_EXPECTED_FRACTION * rated_kw,
            ratio_threshold=ratio,
            clear_ratio=min(0.95, max(ratio, ratio + PV_CLEAR_MARGIN)),
        )

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_RULES: Final = EffectiveRules()


def area_target(site_id: str, area_id: str) -> str:
    """How an area is named in override rows and condition keys (area ids are per site)."""
    return f"{site_id}/{area_id}"


def area_chains(site: Site) -> dict[str, tuple[Area, ...]]:
    """For each area of the site, its ancestors and itself, outermost first."""
    by_id: dict[str, Area] = {}
    parent: dict[str, str | None] = {}
    for area, parent_id in site.walk_areas():
        by_id[area.id] = area
        parent[area.id] = parent_id
    chains: dict[str, tuple[Area, ...]] = {}
    for area_id in by_id:
        chain: list[Area] = []
        current: str | None = area_id
        while current is not None:
            chain.append(by_id[current])
            current = parent[current]
        chains[area_id] = tuple(reversed(chain))
    return chains


class RuleBook:
    """The effective rules of every meter and area of a plant, for one set of overrides."""

    def __init__(
        self, plant: Plant, overrides: Mapping[tuple[str, str], AlertRules] | None = None
    ) -> None:
        self.overrides = dict(overrides or {})
        self._meters: dict[str, EffectiveRules] = {}
        self._areas: dict[str, EffectiveRules] = {}
        for site in plant.sites:
            site_rules = self._level(DEFAULT_RULES, site.alerts, RuleScope.SITE, site.id)
            area_rules: dict[str, EffectiveRules] = {}
            for area_id, chain in area_chains(site).items():
                rules = site_rules
                for area in chain:
                    target = area_target(site.id, area.id)
                    rules = self._level(rules, area.alerts, RuleScope.AREA, target)
                area_rules[area_id] = rules
                self._areas[area_target(site.id, area_id)] = rules
            for meter in site.meters:
                self._meters[meter.id] = self._level(
                    area_rules[meter.area], meter.alerts, RuleScope.METER, meter.id
                )

    def _level(
        self, inherited: EffectiveRules, planned: AlertRules | None, scope: RuleScope, target: str
    ) -> EffectiveRules:
        return inherited.merged(planned).merged(self.overrides.get((scope.value, target)))

    def for_meter(self, meter: Meter) -> EffectiveRules:
        return self._meters[meter.id]

    def for_area(self, site_id: str, area_id: str) -> EffectiveRules:
        return self._areas[area_target(site_id, area_id)]


def parse_overrides(
    rows: Mapping[tuple[str, str], Mapping[str, Any]],
) -> dict[tuple[str, str], AlertRules]:
    """Stored override JSON to ``AlertRules``; a row that no longer validates is skipped."""
    parsed: dict[tuple[str, str], AlertRules] = {}
    for key, rules in rows.items():
        try:
            parsed[key] = AlertRules.model_validate(dict(rules))
        except ValueError:
            continue  # written by an older version; the API rejects invalid ones on write
    return parsed
