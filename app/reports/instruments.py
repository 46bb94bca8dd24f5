"""The one place exports read green certificates and offsets (rows as plain dicts).

Reports and CSVs take these dicts and show whatever fields the instruments have, so a
change to the instrument tables is a change here only.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import GreenCertificateRow, OffsetRow


def certificates(session: Session, site_id: str) -> list[dict[str, Any]]:
    """The site's certificates; ``first``/``after_last`` are the local dates they cover."""
    rows = session.scalars(
        select(GreenCertificateRow).where(GreenCertificateRow.site_id == site_id)
    ).all()
    return [
        {
            "id": c.id,
            "first": c.period_start,
            "after_last": c.period_end,
            "mwh": c.mwh,
            "scheme": c.scheme,
            "reference": c.reference or "",
        }
        for c in rows
    ]


def offsets(session: Session, site_id: str) -> list[dict[str, Any]]:
    """The site's offsets; ``retired_on`` is the local date of retirement."""
    rows = session.scalars(select(OffsetRow).where(OffsetRow.site_id == site_id)).all()
    return [
        {
            "id": o.id,
            "retired_on": o.retired_on,
            "tonnes_co2e": o.tonnes_co2e,
            "standard": o.standard,
            "reference": o.reference or "",
        }
        for o in rows
    ]


def in_month(items: list[dict[str, Any]], first: date, after_last: date) -> list[dict[str, Any]]:
    """Items whose dates touch ``[first, after_last)``."""
    out = []
    for item in items:
        if "retired_on" in item:
            if first <= item["retired_on"] < after_last:
                out.append(item)
        elif item["first"] < after_last and item["after_last"] > first:
            out.append(item)
    return out
