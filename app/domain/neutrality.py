"""ISO 14068-1:2023 carbon-neutrality status for one period and boundary.

``emissions_kg`` is the boundary's inventory as counted (scope 1 +
market-based scope 2). The reductions achieved are already in it (less was
imported, less was burned), so they are reported, never subtracted again:
``residual_kg == emissions_kg``. Offsets retired for the period (by site-local
retirement date, voided ones excluded) are compared with the residual, not
netted into it. The claim is supported only when every condition holds:

1. reduce first: physical reductions were achieved in the period;
2. offsets only for the residual: offsets are not counted as reductions, and
   any retired beyond the residual are reported as not needed;
3. the residual is covered by offsets retired for the period;
4. the claim is verified independently.

PAS 2060 was withdrawn on 30 Nov 2025 and is not cited.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from app.domain.basis import is_mixed
from app.domain.instruments import Offset, offsets_retired
from app.domain.levers import Reductions, show

PAS_2060_WITHDRAWN = "2025-11-30"


@dataclass(frozen=True)
class Condition:
    """One of the standard's conditions, whether it holds, and why."""

    name: str
    met: bool
    detail: str


@dataclass(frozen=True)
class NeutralityStatus:
    """Where a period and boundary stand against a carbon-neutrality claim."""

    boundary: str
    first: date
    after_last: date
    emissions_kg: Decimal
    emissions_basis: str
    physical_reductions_kg: Decimal
    contractual_reductions_kg: Decimal
    residual_kg: Decimal
    offsets_kg: Decimal
    offset_references: tuple[str, ...]
    offsets_basis: str
    offsets_beyond_residual_kg: Decimal
    shortfall_kg: Decimal
    claim_supported: bool
    claim: str
    conditions: tuple[Condition, ...]
    basis: str
    notes: tuple[str, ...]


def neutrality_status(
    *,
    boundary: str,
    first: date,
    after_last: date,
    zone: ZoneInfo,
    emissions_kg: Decimal,
    emissions_basis: str,
    reductions: Reductions,
    offsets: Sequence[Offset],
    verified: bool,
) -> NeutralityStatus:
    """The status for site-local dates ``[first, after_last)`` of ``boundary``.

    Args:
        boundary: what the claim is about, e.g. ``site:guian`` or an area id.
        emissions_kg, emissions_basis: the boundary's market-based inventory and its basis.
        reductions: ``split_reductions`` for the same period and boundary.
        offsets: every registered offset of the boundary; the period's are picked here.
        verified: an independent verifier has checked the claim.
    """
    retired = offsets_retired(offsets, first, after_last, zone)
    residual = emissions_kg
    shortfall = max(Decimal(0), residual - retired.kg)
    beyond = max(Decimal(0), retired.kg - residual)
    physical = reductions.physical_kg
    conditions = (
        Condition(
            "reduce first",
            physical > 0,
            f"physical reductions this period: {show(physical)} kg"
            + ("" if physical > 0 else "; reduce before offsetting"),
        ),
        Condition(
            "offsets only for the residual",
            True,
            "offsets are compared with the residual, never counted as reductions"
            + (f"; {show(beyond)} kg retired beyond the residual are not needed" if beyond else ""),
        ),
        Condition(
            "residual covered by offsets retired for the period",
            shortfall == 0,
            f"residual {show(residual)} kg, offsets {show(retired.kg)} kg"
            + (f": short by {show(shortfall)} kg" if shortfall else ""),
        ),
        Condition(
            "independent verification",
            verified,
            "verified" if verified else "not verified: ISO 14068-1 requires it",
        ),
    )
    supported = all(c.met for c in conditions)
    if supported:
        claim = "carbon neutral per ISO 14068-1:2023"
    elif shortfall:
        claim = f"not carbon neutral: short by {show(shortfall)} kg of residual emissions"
    else:
        unmet = ", ".join(c.name for c in conditions if not c.met)
        claim = f"offsets cover the residual, but the claim is not supported: {unmet}"
    if not retired.references or retired.basis == emissions_basis:
        basis = emissions_basis
    else:
        basis = f"mixed: emissions {emissions_basis}; offsets {retired.basis}"
    notes = [
        "residual = scope 1 + market-based scope 2 as counted; reductions are already in it",
        f"PAS 2060 was withdrawn on {PAS_2060_WITHDRAWN}; ISO 14068-1:2023 is the standard",
    ]
    if is_mixed(emissions_basis) or (emissions_basis == "CO2" and retired.references):
        notes.append(
            f"gas basis differs: emissions {emissions_basis}, offsets {retired.basis}; the "
            "CO2-only factors leave out CH4 and N2O, so the residual in CO2e is larger"
        )
    return NeutralityStatus(
        boundary=boundary,
        first=first,
        after_last=after_last,
        emissions_kg=emissions_kg,
        emissions_basis=emissions_basis,
        physical_reductions_kg=physical,
        contractual_reductions_kg=reductions.contractual_kg,
        residual_kg=residual,
        offsets_kg=retired.kg,
        offset_references=retired.references,
        offsets_basis=retired.basis,
        offsets_beyond_residual_kg=beyond,
        shortfall_kg=shortfall,
        claim_supported=supported,
        claim=claim,
        conditions=conditions,
        basis=basis,
        notes=tuple(notes),
    )
