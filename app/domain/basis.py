"""Gas basis of a total: CO₂ only, CO₂e, or a labelled mix of both.

MEE/NBS, GB/T 32150 and EIA factors count CO₂ only; DESNZ factors and offset
credits count CO₂e. GreenPulse does not convert one into the other (a CO₂-only
factor carries no CH₄/N₂O data to convert with), so a total that adds both says
so: ``"mixed: CO2 [ids]; CO2e [ids]"``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

CO2: Final = "CO2"
CO2E: Final = "CO2e"
_BASES: Final = (CO2, CO2E)


def combine_basis(parts: Iterable[tuple[str, str]]) -> str:
    """The basis of a total from ``(source id, basis)`` pairs: ``CO2``, ``CO2e`` or ``mixed: …``.

    An empty total is ``CO2`` (nothing of either was added).

    Raises:
        ValueError: a basis other than ``CO2`` or ``CO2e``.
    """
    by_basis: dict[str, list[str]] = {CO2: [], CO2E: []}
    for source, basis in parts:
        if basis not in by_basis:
            raise ValueError(f"{source}: gas basis {basis!r} must be 'CO2' or 'CO2e'")
        if source not in by_basis[basis]:
            by_basis[basis].append(source)
    present = [b for b in _BASES if by_basis[b]]
    if len(present) < 2:
        return present[0] if present else CO2
    listed = "; ".join(f"{b} [{', '.join(by_basis[b])}]" for b in _BASES)
    return f"mixed: {listed}"


def is_mixed(basis: str) -> bool:
    """Whether a total adds CO₂-only and CO₂e figures."""
    return basis.startswith("mixed: ")
