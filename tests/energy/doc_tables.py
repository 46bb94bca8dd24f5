"""Read the worked-example tables of docs/energy.md, so the page and the routes cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "energy.md"


def table(name: str) -> list[list[str]]:
    """Body rows of the table between ``<!-- example:NAME:start/end -->``, cells stripped."""
    text = DOC.read_text(encoding="utf-8")
    block = text.split(f"<!-- example:{name}:start -->")[1].split(f"<!-- example:{name}:end -->")[0]
    rows = [line for line in block.strip().splitlines() if line.startswith("|")]
    return [[cell.strip().strip("`") for cell in row.strip("|").split("|")] for row in rows[2:]]


def num(cell: str) -> float:
    """The leading number of a cell: ``1,116.00`` → 1116.0, ``−1,000`` → -1000.0."""
    match = re.match(r"^[−\-]?[\d,]*\.?\d+", cell.strip())
    assert match, cell
    return float(match[0].replace(",", "").replace("−", "-"))
