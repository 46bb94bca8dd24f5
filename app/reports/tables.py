"""Tables as CSV rows and XLSX sheets: the history (any range, in chunks) and the small tables."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from sqlalchemy.orm import Session, sessionmaker

from app.domain.tariffs import PriceSchedule, round_money
from app.history.service import UNITS, HistoryScope, HistoryService
from app.history.zoom import Zoom, buckets_between, next_bucket

CHUNK_BUCKETS = 2000  # history rows computed per query while streaming


def history_header(scope: HistoryScope, currency: str | None) -> list[str]:
    resources = sorted({m.resource.value for m in scope.meters})
    return [
        "start",
        "end",
        *(f"{r}_{UNITS[r]}" for r in resources),
        "co2_location_kg",
        "co2_market_kg",
        f"cost_{currency or 'unpriced'}",
    ]


def history_chunks(
    factory: sessionmaker[Session],
    service: HistoryService,
    scope: HistoryScope,
    zoom: Zoom,
    start: datetime,
    end: datetime,
    schedules: Sequence[PriceSchedule],
) -> Iterator[dict[str, Any]]:
    """History tables of at most ``CHUNK_BUCKETS`` rows covering ``[start, end)`` in order."""
    zone = scope.site.zone
    chunk_start, count = start, 0
    for bucket in buckets_between(zoom, start, end, zone):
        count += 1
        if count == CHUNK_BUCKETS:
            chunk_end = next_bucket(zoom, bucket, zone)
            with factory() as session:
                yield service.table(session, scope, zoom, chunk_start, chunk_end, schedules)
            chunk_start, count = chunk_end, 0
    if count:
        with factory() as session:
            yield service.table(session, scope, zoom, chunk_start, end, schedules)


def history_rows(scope: HistoryScope, chunks: Iterable[dict[str, Any]]) -> Iterator[list[Any]]:
    """The header, one row per bucket, then a ``total`` row (exact cost, summed CO₂)."""
    resources = sorted({m.resource.value for m in scope.meters})
    energy = dict.fromkeys(resources, 0.0)
    kg = {"co2_location_kg": 0.0, "co2_market_kg": 0.0}
    cost: Decimal | None = Decimal(0)
    first = True
    for table in chunks:
        if first:
            yield history_header(scope, table["cost_info"]["currency"])
            first = False
        for b in table["buckets"]:
            yield [
                b["start"],
                b["end"],
                *(b["energy"].get(r, 0.0) for r in resources),
                b["co2_location_kg"],
                b["co2_market_kg"],
                b["cost"],
            ]
        totals = table["totals"]
        for r in resources:
            energy[r] += totals["energy"].get(r, 0.0)
        for name in kg:
            kg[name] += totals[name] or 0.0
        exact = totals["cost_exact"]
        cost = None if cost is None or exact is None else cost + Decimal(exact)
    if first:
        yield history_header(scope, None)
    yield [
        "total",
        "",
        *(energy[r] for r in resources),
        kg["co2_location_kg"],
        kg["co2_market_kg"],
        None if cost is None else str(round_money(cost)),
    ]


def csv_lines(rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """Rows as CSV text, a line at a time (for streaming)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def xlsx_bytes(sheets: dict[str, Iterable[Sequence[Any]]]) -> bytes:
    """A workbook (openpyxl, write-only) with one sheet per table."""
    book = Workbook(write_only=True)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title=title[:31])
        for row in rows:
            sheet.append([_cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        try:  # money strings become numbers a spreadsheet can add up
            return float(value) if value.replace(".", "", 1).lstrip("-").isdigit() else value
        except ValueError:
            return value
    return value


def dict_rows(items: Sequence[dict[str, Any]], columns: Sequence[str]) -> Iterator[list[Any]]:
    """A header and one row per item (nested values as text)."""
    yield list(columns)
    for item in items:
        yield [
            item.get(c) if not isinstance(item.get(c), dict | list) else str(item.get(c))
            for c in columns
        ]
