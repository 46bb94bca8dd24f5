"""A site's figures allocated to its areas by sub-metered consumption, adding up exactly.

Areas form a tree. Each area lists the meters of its own load and may name a
``feeder`` meter that measures the whole area, sub-areas included. A meter
counts once, in the deepest area that lists it (a utilities area that lists
the boilers' meter beside its boilers sub-area does not count it twice).

Lines (what is allocated):

* ``metered``: an area's own meters;
* ``unmetered``: inside an area with a feeder, feeder − (own meters + sub-areas);
* the site's ``remainder``: site kWh − the top-level areas' kWh.

An area's total is the sum of its lines and its sub-areas' totals, so the
top-level areas plus the remainder are the site. Each figure (kg, covered kWh)
is split over the lines pro rata to their kWh, and rounded so the lines add up
to the site **exactly** (largest-remainder rule): the figure is first rounded
half-even to ``quantum``; each line gets the floor of its exact share in
quanta; the quanta left go one each to the lines with the largest remainders
(ties: line order). Certificates follow the same rule, so market-based scope 2
and covered kWh are pro rata per area. A negative line (sub-meters reading
more than the feeder or the site) is kept and noted, never hidden.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Final

DEFAULT_QUANTUM: Final = Decimal("0.000001")
REMAINDER: Final = "remainder"


class AllocationError(ValueError):
    """The area tree or the meter readings cannot be allocated; the message says why."""


@dataclass(frozen=True)
class Area:
    """A part of the site: its own meters, an optional feeder, its parent area."""

    id: str
    meters: tuple[str, ...] = ()
    parent: str | None = None
    feeder: str | None = None


@dataclass(frozen=True)
class Line:
    """One allocated line: ``area_id`` None for the site remainder."""

    area_id: str | None
    kind: str
    kwh: Decimal
    figures: Mapping[str, Decimal]


@dataclass(frozen=True)
class Allocation:
    """Lines, per-area totals (sub-areas included) and the site figures they add up to."""

    site_kwh: Decimal
    site: Mapping[str, Decimal]
    lines: tuple[Line, ...]
    area_kwh: Mapping[str, Decimal]
    area_figures: Mapping[str, Mapping[str, Decimal]]
    top_level: tuple[str, ...]
    notes: tuple[str, ...]


def split_exactly(
    total: Decimal, weights: Sequence[Decimal], quantum: Decimal = DEFAULT_QUANTUM
) -> list[Decimal]:
    """``total`` (rounded to ``quantum``) split pro rata to ``weights``, adding up exactly.

    With all weights zero the whole total goes to the last weight.
    """
    whole = total.quantize(quantum, ROUND_HALF_EVEN)
    if not weights:
        raise AllocationError("nothing to allocate to")
    weight_sum = sum((Fraction(w) for w in weights), Fraction(0))
    if weight_sum == 0:
        return [Decimal(0)] * (len(weights) - 1) + [whole]
    q = Fraction(quantum)
    exact = [Fraction(whole) * Fraction(w) / weight_sum / q for w in weights]
    floors = [math.floor(x) for x in exact]
    left = int(Fraction(whole) / q) - sum(floors)
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in by_remainder[:left]:  # Σ floors ≤ Σ exact, so 0 ≤ left < len(weights)
        floors[i] += 1
    return [Decimal(n) * quantum for n in floors]


def _check_tree(areas: Sequence[Area]) -> dict[str, Area]:
    by_id: dict[str, Area] = {}
    for area in areas:
        if area.id in by_id:
            raise AllocationError(f"area {area.id!r} is listed twice")
        by_id[area.id] = area
    for area in areas:
        seen = {area.id}
        parent = area.parent
        while parent is not None:
            if parent not in by_id:
                raise AllocationError(f"area {area.id!r} has unknown parent {parent!r}")
            if parent in seen:
                raise AllocationError(f"areas {sorted(seen)} form a cycle")
            seen.add(parent)
            parent = by_id[parent].parent
    return by_id


def _depth(area: Area, by_id: Mapping[str, Area]) -> int:
    depth, parent = 0, area.parent
    while parent is not None:
        depth, parent = depth + 1, by_id[parent].parent
    return depth


def _ancestors(area_id: str, by_id: Mapping[str, Area]) -> list[str]:
    chain, parent = [], by_id[area_id].parent
    while parent is not None:
        chain.append(parent)
        parent = by_id[parent].parent
    return chain


def _meter_owner(by_id: Mapping[str, Area]) -> dict[str, str]:
    """Each meter's area: the deepest that lists it; listing in unrelated areas is refused."""
    owner: dict[str, str] = {}
    for area in sorted(by_id.values(), key=lambda a: -_depth(a, by_id)):
        for meter in area.meters:
            held = owner.get(meter)
            if held is None:
                owner[meter] = area.id
            elif held != area.id and area.id not in _ancestors(held, by_id):
                raise AllocationError(
                    f"meter {meter!r} is listed by areas {held!r} and {area.id!r}, "
                    "neither inside the other"
                )
    return owner


def allocate(
    *,
    site_kwh: Decimal,
    figures: Mapping[str, Decimal],
    areas: Sequence[Area],
    meter_kwh: Mapping[str, Decimal],
    quantum: Decimal = DEFAULT_QUANTUM,
) -> Allocation:
    """Allocate the site's ``figures`` to ``areas`` by sub-metered kWh.

    Args:
        site_kwh: the site's consumption the figures belong to.
        figures: e.g. ``{"scope2_location_kg": …, "scope2_market_kg": …,
            "certificate_covered_kwh": …}`` for the same period.
        areas: the area tree.
        meter_kwh: each listed meter's kWh for the period.
        quantum: the figures' rounding step.

    Raises:
        AllocationError: bad tree, a meter in unrelated areas, or a listed meter with
            no reading.
    """
    by_id = _check_tree(areas)
    owner = _meter_owner(by_id)
    missing = sorted(
        {m for m in owner if m not in meter_kwh}
        | {a.feeder for a in areas if a.feeder is not None and a.feeder not in meter_kwh}
    )
    if missing:
        raise AllocationError(f"no reading for meters {missing}: the areas would not add up")
    children: dict[str | None, list[str]] = {}
    for area in areas:
        children.setdefault(area.parent, []).append(area.id)
    notes: list[str] = []
    raw: list[tuple[str | None, str, Decimal]] = []
    totals: dict[str, Decimal] = {}

    def walk(area_id: str) -> Decimal:
        area = by_id[area_id]
        below = sum((walk(child) for child in children.get(area_id, [])), Decimal(0))
        own = sum(
            (meter_kwh[m] for m in dict.fromkeys(area.meters) if owner[m] == area_id), Decimal(0)
        )
        raw.append((area_id, "metered", own))
        total = own + below
        if area.feeder is not None:
            unmetered = meter_kwh[area.feeder] - total
            if unmetered < 0:
                notes.append(
                    f"area {area_id}: sub-meters read {-unmetered} kWh more than its feeder"
                )
            raw.append((area_id, "unmetered", unmetered))
            total = meter_kwh[area.feeder]
        totals[area_id] = total
        return total

    top = tuple(children.get(None, []))
    metered = sum((walk(a) for a in top), Decimal(0))
    remainder = site_kwh - metered
    if remainder < 0:
        notes.append(f"areas read {-remainder} kWh more than the site: the remainder is negative")
    raw.append((None, REMAINDER, remainder))
    weights = [kwh for _, _, kwh in raw]
    split = {name: split_exactly(value, weights, quantum) for name, value in figures.items()}
    lines = tuple(
        Line(area_id, kind, kwh, {name: split[name][i] for name in figures})
        for i, (area_id, kind, kwh) in enumerate(raw)
    )
    area_figures: dict[str, dict[str, Decimal]] = {
        a: dict.fromkeys(figures, Decimal(0)) for a in by_id
    }
    for line in lines:
        if line.area_id is None:
            continue
        for holder in (line.area_id, *_ancestors(line.area_id, by_id)):
            for name, value in line.figures.items():
                area_figures[holder][name] += value
    return Allocation(
        site_kwh=site_kwh,
        site={name: value.quantize(quantum, ROUND_HALF_EVEN) for name, value in figures.items()},
        lines=lines,
        area_kwh=totals,
        area_figures=area_figures,
        top_level=top,
        notes=tuple(notes),
    )
