"""Read the worked-example tables of docs/carbon.md, so the page and the code cannot drift."""

from __future__ import annotations

from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "carbon.md"


def example_rows(name: str) -> list[list[str]]:
    """Body rows of the table between ``<!-- example:<name>:start/end -->``, cells stripped."""
    text = DOC.read_text(encoding="utf-8")
    block = text.split(f"<!-- example:{name}:start -->")[1].split(f"<!-- example:{name}:end -->")[0]
    rows = [line for line in block.strip().splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]
