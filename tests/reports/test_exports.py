"""Exports from real readings: streamed CSV in chunks, XLSX, the monthly report in HTML and PDF."""

from __future__ import annotations

import base64
import csv
import io
import re
import zlib
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from openpyxl import load_workbook

from app.reports import tables
from tests.history.conftest import HOURS, READ, START, Fed

RANGE = {
    "zoom": "hour",
    "start": START.isoformat().replace("+00:00", "Z"),
    "end": (START + timedelta(hours=HOURS)).isoformat().replace("+00:00", "Z"),
}


async def history(client: httpx.AsyncClient, **params: str) -> dict:  # type: ignore[type-arg]
    response = await client.get("/api/v1/sites/guian/history", params=params, headers=READ)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_csv_streams_in_chunks_and_its_totals_equal_the_api(
    client: httpx.AsyncClient, fed: Fed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tables, "CHUNK_BUCKETS", 7)  # 60 hours in nine chunks
    response = await client.get(
        "/api/v1/sites/guian/export/history.csv", params=RANGE, headers=READ
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    data = await history(client, **RANGE)
    header, body, total = rows[0], rows[1:-1], rows[-1]
    assert [r[0] for r in body] == [b["start"] for b in data["buckets"]]
    values = dict(zip(header, total, strict=True))
    grid = fed.total("el-grid-in-1", START, START + timedelta(hours=HOURS))
    assert float(values["electricity_import_kWh"]) == pytest.approx(grid, rel=1e-12)
    assert float(values["co2_location_kg"]) == pytest.approx(
        data["totals"]["co2_location_kg"], rel=1e-12
    )
    assert values["cost_CNY"] == data["totals"]["cost"]
    assert sum(Decimal(r[header.index("cost_CNY")]) for r in body) == pytest.approx(
        Decimal(data["totals"]["cost"]), abs=Decimal("0.01") * len(body)
    )


async def test_csv_takes_a_range_longer_than_the_screen(client: httpx.AsyncClient) -> None:
    params = {"zoom": "minute", "start": RANGE["start"], "end": "2026-06-19T16:00:00Z"}
    refused = await client.get("/api/v1/sites/guian/history", params=params, headers=READ)
    assert refused.status_code == 422
    response = await client.get(
        "/api/v1/sites/guian/export/history.csv", params=params, headers=READ
    )
    assert response.status_code == 200
    assert len(response.text.splitlines()) == 5 * 24 * 60 + 2


async def test_workbook_holds_history_factors_and_tariffs(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/sites/guian/export/history.xlsx", params=RANGE, headers=READ
    )
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["history", "factors", "tariffs"]
    rows = list(book["history"].iter_rows(values_only=True))
    data = await history(client, **RANGE)
    total = dict(zip(rows[0], rows[-1], strict=True))
    assert total["co2_market_kg"] == pytest.approx(data["totals"]["co2_market_kg"], rel=1e-12)
    assert total["cost_CNY"] == pytest.approx(float(data["totals"]["cost"]))
    factor_ids = {r[1] for r in list(book["factors"].iter_rows(values_only=True))[1:]}
    assert set(data["factor_ids"]["co2_location_kg"]) <= factor_ids


def _decoded(stream: bytes) -> bytes:
    """A reportlab content stream: ASCII85 around Flate."""
    try:
        return zlib.decompress(base64.a85decode(stream.strip(), adobe=True))
    except ValueError:
        return stream


async def test_monthly_report_carries_factor_ids_and_method(client: httpx.AsyncClient) -> None:
    month = await history(client, zoom="month", period="this_month")
    html = await client.get("/api/v1/sites/guian/export/monthly/2026-06.html", headers=READ)
    assert html.status_code == 200
    assert f'data-co2-location-kg="{month["totals"]["co2_location_kg"]}"' in html.text
    assert f'data-cost="{month["totals"]["cost"]}"' in html.text
    for factor in month["factor_ids"]["co2_location_kg"] + month["factor_ids"]["co2_market_kg"]:
        assert factor in html.text
    assert "Method" in html.text and "CCER-demo-retirement" in html.text
    pdf = await client.get("/api/v1/sites/guian/export/monthly/2026-06.pdf", headers=READ)
    assert pdf.content.startswith(b"%PDF")
    text = b"".join(
        _decoded(m) for m in re.findall(rb"stream\r?\n(.*?)endstream", pdf.content, re.S)
    )
    for factor in month["factor_ids"]["co2_location_kg"]:
        assert factor.encode() in text
    bad = await client.get("/api/v1/sites/guian/export/monthly/2026-13.html", headers=READ)
    assert bad.status_code == 422
