"""The one place exports read green certificates and offsets (rows as plain dicts).

Reports and CSVs take these dicts and show whatever fields the instruments have, so a
change to the instrument registry is a change here only. The registry itself belongs to
the carbon feature (``app.carbon.store``).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from app.carbon import store


def certificates(session: Session, site_id: str, zone: ZoneInfo) -> list[dict[str, Any]]:
    """The site's certificates; ``first``/``after_last`` are the local dates they cover."""
    return [
        {
            "reference": c.reference,
            "instrument_type": c.instrument_type,
            "first": c.claimed_first,
            "after_last": c.claimed_last + timedelta(days=1),
            "mwh": float(c.kwh) / 1000,
            "generation": f"{c.generation_first} – {c.generation_last}",
            "registry": c.registry,
            "serial": c.serial,
            "retired_on": c.retired_on,
        }
        for c in store.certificates(session, site_id)
    ]


def offsets(session: Session, site_id: str, zone: ZoneInfo) -> list[dict[str, Any]]:
    """The site's offsets that count (voided ones are left out); ``retired_on`` is the
    site-local date the offset counts on."""
    return [
        {
            "reference": o.reference,
            "standard": o.standard,
            "project": o.project,
            "vintage": o.vintage,
            "retired_on": o.retirement_date(zone),
            "tonnes_co2e": float(o.kg) / 1000,
            "registry": o.registry,
            "serial": o.serial,
        }
        for o in store.offsets(session, site_id)
        if not o.voided
    ]


def in_month(items: list[dict[str, Any]], first: date, after_last: date) -> list[dict[str, Any]]:
    """Items whose dates touch ``[first, after_last)``: certificates by the period they are
    claimed for, offsets by the local date they count on."""
    out = []
    for item in items:
        if "first" in item:
            if item["first"] < after_last and item["after_last"] > first:
                out.append(item)
        elif first <= item["retired_on"] < after_last:
            out.append(item)
    return out
