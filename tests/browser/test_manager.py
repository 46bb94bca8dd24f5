"""The energy manager's pages in headless Chromium against a running server.

Every page loads with no request beyond our own server, its numbers equal the API's,
drill-down and zoom change what they should, and an exported file's totals equal the
API's. A 1920×1080 screenshot of each page is kept (the directory is printed).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.browser.conftest import READ_TOKEN, WRITE_TOKEN, Stack

pytestmark = pytest.mark.browser
PAGES = ("overview", "history", "flow", "alerts", "certificates", "health")
WAIT_MS = 20_000
READ_FIGURES = """() => Object.fromEntries(
  [...document.querySelectorAll('[data-figure]')]
    .map((e) => [e.dataset.figure, e.dataset.value]))"""
T = TypeVar("T")


def api(stack: Stack, path: str, **params: Any) -> Any:
    response = httpx.get(
        f"{stack.base_url}{path}",
        params={k: v for k, v in params.items() if v is not None},
        headers={"Authorization": f"Bearer {READ_TOKEN}"},
        timeout=20,
    )
    response.raise_for_status()
    return response.json()


def url(stack: Stack, page: str, **params: str) -> str:
    return f"{stack.base_url}/manager/guian/{page}?" + urlencode({"token": READ_TOKEN, **params})


@pytest.fixture(scope="module")
def quiet(stack: Stack) -> Iterator[Stack]:
    """The stack with its live writer paused, so the API's numbers hold still while compared."""
    assert stack.live is not None
    stack.live.pause()
    time.sleep(1.5)
    try:
        yield stack
    finally:
        stack.live.resume()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("manager-screenshots")
    print(f"\nmanager screenshots: {directory}")
    return directory


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": 1920, "height": 1080}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        yield page
    finally:
        context.close()


def open_page(page: Page, address: str) -> None:
    page.goto(address)
    page.wait_for_function("document.body.dataset.ready !== 'false'")
    assert page.evaluate("document.body.dataset.ready") == "true", page.inner_text("#status")


def eventually(check: Callable[[], T], timeout_s: float = 10.0) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def past_hours(hours: int) -> tuple[str, str]:
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    start = end - timedelta(hours=hours)
    return (start.isoformat().replace("+00:00", "Z"), end.isoformat().replace("+00:00", "Z"))


@pytest.mark.parametrize("name", PAGES)
def test_page_loads_from_our_server_only(
    quiet: Stack, page: Page, shots: Path, artifacts: Path, name: str
) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("websocket", lambda ws: requests.append(ws.url))
    open_page(page, url(quiet, name))
    page.wait_for_load_state("networkidle")
    ours = (quiet.base_url, quiet.base_url.replace("http://", "ws://"))
    outside = [r for r in requests if not r.startswith(ours)]
    assert outside == [], f"{name} asked beyond our server: {outside}"
    assert any(r.endswith("/vendor/plotly.min.js") for r in requests)
    figures = page.evaluate(READ_FIGURES)
    assert figures, f"{name} shows no figure"
    for target in (shots / f"manager-{name}.png", artifacts / f"manager-{name}.png"):
        page.screenshot(path=str(target), full_page=False)


def test_history_equals_the_api_and_zoom_changes_it(quiet: Stack, page: Page) -> None:
    start, end = past_hours(6)
    open_page(page, url(quiet, "history", zoom="hour", start=start, end=end))
    data = api(quiet, "/api/v1/sites/guian/history", zoom="hour", start=start, end=end)
    shown = page.evaluate(READ_FIGURES)
    assert page.get_attribute("h1", "data-buckets") == str(len(data["buckets"])) == "6"
    for resource, value in data["totals"]["energy"].items():
        assert float(shown[f"total.energy.{resource}"]) == value
    assert float(shown["total.co2_location_kg"]) == data["totals"]["co2_location_kg"]
    assert float(shown["total.co2_market_kg"]) == data["totals"]["co2_market_kg"]
    assert shown["total.cost"] == data["totals"]["cost"]
    for i, bucket in enumerate(data["buckets"]):
        assert (
            float(shown[f"bucket.{i}.electricity_import"]) == bucket["energy"]["electricity_import"]
        )
        assert shown[f"bucket.{i}.cost"] == bucket["cost"]
    assert page.locator("#chart-co2 .main-svg").count() > 0  # Plotly drew the chart

    page.click("button[data-zoom='15min']")
    page.wait_for_function("document.querySelector('h1').dataset.zoom === '15min'")
    quarters = api(quiet, "/api/v1/sites/guian/history", zoom="15min", start=start, end=end)
    assert page.get_attribute("h1", "data-buckets") == str(len(quarters["buckets"])) == "24"
    shown = page.evaluate(READ_FIGURES)
    assert shown["total.cost"] == quarters["totals"]["cost"]

    page.click("button[data-zoom='day']")
    page.wait_for_function("document.querySelector('h1').dataset.zoom === 'day'")
    days = api(quiet, "/api/v1/sites/guian/history", zoom="day", start=start, end=end)
    assert page.get_attribute("h1", "data-buckets") == str(len(days["buckets"]))
    shown = page.evaluate(READ_FIGURES)
    assert float(shown["total.co2_location_kg"]) == days["totals"]["co2_location_kg"]

    page.select_option("#compare", "previous")
    page.wait_for_selector("#comparison-totals")
    compared = api(
        quiet,
        "/api/v1/sites/guian/history",
        zoom="day",
        start=days["start"],
        end=days["end"],
        compare="previous",
    )
    shown = page.evaluate(READ_FIGURES)
    assert shown["comparison.cost"] == (compared["comparison"]["totals"]["cost"] or "")


def test_drill_down_from_site_to_area_to_meter(quiet: Stack, page: Page) -> None:
    open_page(page, url(quiet, "overview"))
    assert page.get_attribute("h1", "data-scope") == "site"
    assert page.locator("#areas tr[data-area='utilities']").count() == 1

    def site_power_matches() -> None:
        snap = api(quiet, "/api/v1/sites/guian/figures")
        shown = page.evaluate(READ_FIGURES)
        assert float(shown["power.grid_import"]) == snap["power"]["grid_import"]["value"]

    eventually(site_power_matches)
    page.click("#areas tr[data-area='utilities']")
    page.wait_for_function(
        "document.querySelector('h1') && document.querySelector('h1').dataset.scope === 'utilities'"
    )
    page.wait_for_function("document.body.dataset.ready === 'true'")
    rows = page.eval_on_selector_all("#areas tr[data-area]", "rs => rs.map(r => r.dataset.area)")
    assert rows == ["compressors", "chillers", "boilers", "water-treatment"]

    def area_power_matches() -> None:
        snap = api(quiet, "/api/v1/sites/guian/areas/compressors/figures")
        shown = page.evaluate(READ_FIGURES)
        assert float(shown["area.compressors.feeders"]) == snap["power"]["feeders"]["value"]

    eventually(area_power_matches)
    meters = page.eval_on_selector_all(
        "#meters tr[data-meter]", "rs => rs.map(r => r.dataset.meter)"
    )
    assert "el-comp-01" in meters and "el-grid-in-1" not in meters
    page.click("#meters tr[data-meter='el-comp-01']")
    page.wait_for_function(
        "document.querySelector('h1') && document.querySelector('h1').dataset.scope === 'meter'"
    )
    page.wait_for_function("document.body.dataset.ready === 'true'")
    health = {h["meter"]: h for h in api(quiet, "/api/v1/sites/guian/meter-health")}
    shown = page.evaluate(READ_FIGURES)
    assert float(shown["meter.rate_per_h"]) == health["el-comp-01"]["rate_per_h"]
    assert int(shown["meter.events"]) == health["el-comp-01"]["events"]


def test_energy_flow_equals_the_api(quiet: Stack, page: Page) -> None:
    open_page(page, url(quiet, "flow"))
    flow = api(quiet, "/api/v1/sites/guian/energy-flow", period="today")
    shown = page.evaluate(READ_FIGURES)
    for key, value in flow["totals"].items():
        assert float(shown[f"flow.{key}"]) == value, key
    for link in flow["links"]:
        assert float(shown[f"link.{link['source']}.{link['target']}"]) == link["kwh"]
    assert flow["totals"]["unmetered"] == pytest.approx(
        flow["totals"]["consumption"] - flow["totals"]["metered"]
    )
    assert page.locator("#sankey .sankey").count() == 1


def test_exported_csv_totals_equal_the_api(quiet: Stack, page: Page) -> None:
    start, end = past_hours(6)
    open_page(page, url(quiet, "history", zoom="hour", start=start, end=end))
    with page.expect_download() as download:
        page.click("#export-csv")
    text = Path(download.value.path()).read_text()
    rows = list(csv.reader(io.StringIO(text)))
    header, total = rows[0], rows[-1]
    data = api(quiet, "/api/v1/sites/guian/history", zoom="hour", start=start, end=end)
    assert total[0] == "total" and len(rows) == len(data["buckets"]) + 2
    values = dict(zip(header, total, strict=True))
    for resource, value in data["totals"]["energy"].items():
        unit = data["units"][resource]
        assert float(values[f"{resource}_{unit}"]) == pytest.approx(value, rel=1e-12)
    assert float(values["co2_location_kg"]) == pytest.approx(
        data["totals"]["co2_location_kg"], rel=1e-12
    )
    assert values[f"cost_{data['cost_info']['currency']}"] == data["totals"]["cost"]


def test_monthly_report_and_workbook(quiet: Stack) -> None:
    from openpyxl import load_workbook

    month = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    label = f"{month.year:04d}-{month.month:02d}"
    auth = {"Authorization": f"Bearer {READ_TOKEN}"}
    html = httpx.get(
        f"{quiet.base_url}/api/v1/sites/guian/export/monthly/{label}.html", headers=auth, timeout=30
    )
    assert html.status_code == 200
    data = api(quiet, "/api/v1/sites/guian/history", zoom="month", period="this_month")
    assert f'data-co2-location-kg="{data["totals"]["co2_location_kg"]}"' in html.text
    for factor in data["factor_ids"]["co2_location_kg"]:
        assert factor in html.text
    assert "Method" in html.text
    pdf = httpx.get(
        f"{quiet.base_url}/api/v1/sites/guian/export/monthly/{label}.pdf", headers=auth, timeout=30
    )
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    start, end = past_hours(6)
    xlsx = httpx.get(
        f"{quiet.base_url}/api/v1/sites/guian/export/history.xlsx",
        params={"zoom": "hour", "start": start, "end": end},
        headers=auth,
        timeout=30,
    )
    sheet = load_workbook(io.BytesIO(xlsx.content))["history"]
    rows = list(sheet.iter_rows(values_only=True))
    hourly = api(quiet, "/api/v1/sites/guian/history", zoom="hour", start=start, end=end)
    total = dict(zip(rows[0], rows[-1], strict=True))
    assert total["co2_location_kg"] == pytest.approx(hourly["totals"]["co2_location_kg"], rel=1e-12)


def test_alerts_are_filtered_acknowledged_and_resolved_with_a_note(
    quiet: Stack, page: Page
) -> None:
    open_page(page, url(quiet, "alerts"))
    active = api(quiet, "/api/v1/alerts", site="guian", status="active")
    shown = page.eval_on_selector_all(
        "#alerts tr[data-alert]", "rs => rs.map(r => +r.dataset.alert)"
    )
    assert shown == [a["id"] for a in active] and len(shown) >= 2
    critical = [a for a in active if a["severity"] == "critical"]
    page.select_option("#filter-severity", "critical")
    page.wait_for_function(
        "(n) => document.querySelectorAll('#alerts tr[data-alert]').length === n",
        arg=len(critical),
    )
    target = critical[0]["id"]
    # the read token may look but not change
    page.click(f"button[data-ack='{target}']")
    page.wait_for_function("document.getElementById('status').dataset.state === 'error'")
    assert api(quiet, f"/api/v1/alerts/{target}")["status"] == "open"
    page.fill("#admin-token", WRITE_TOKEN)
    page.click("form.inline button[type=submit]")
    page.wait_for_selector(f"button[data-ack='{target}']")
    page.click(f"button[data-ack='{target}']")
    page.wait_for_selector(f"tr[data-alert='{target}'][data-status='acknowledged']")
    assert api(quiet, f"/api/v1/alerts/{target}")["status"] == "acknowledged"
    page.fill(f"input[data-note='{target}']", "valve replaced, compressor back to normal")
    page.click(f"button[data-resolve='{target}']")
    page.wait_for_function("(id) => !document.querySelector(`tr[data-alert='${id}']`)", arg=target)
    resolved = api(quiet, f"/api/v1/alerts/{target}")
    assert resolved["status"] == "resolved"
    assert resolved["resolution_note"] == "valve replaced, compressor back to normal"


def test_a_certificate_added_on_the_page_is_listed_by_the_api(quiet: Stack, page: Page) -> None:
    open_page(page, url(quiet, "certificates"))
    before = api(quiet, "/api/v1/sites/guian/certificates")
    page.fill("#admin-token", WRITE_TOKEN)
    page.click("form.inline button[type=submit]")
    # "Use" draws the page again from fresh answers: fill the form of the new page
    page.wait_for_load_state("networkidle")
    page.wait_for_selector("#certificates")
    form = page.locator("form.inline").nth(1)
    fields = {
        "reference": "GEC-2026-07-page",
        "instrument_type": "GEC",
        "generation_first": "2026-06-01",
        "generation_last": "2026-06-30",
        "claimed_first": "2026-07-01",
        "claimed_last": "2026-07-31",
        "quantity": "12.5",
        "unit": "MWh",
        "registry": "China GEC trading platform",
        "serial": "GEC-2026-07-page-S",
        "retired_on": "2026-07-02",
    }
    for name, value in fields.items():
        form.locator(f"input[name={name}]").fill(value)
    form.locator("button[type=submit]").click()
    page.wait_for_function(
        "(n) => document.querySelectorAll('#certificates tr[data-certificate]').length === n",
        arg=len(before) + 1,
    )
    after = api(quiet, "/api/v1/sites/guian/certificates")
    added = [c for c in after if c["reference"] == "GEC-2026-07-page"]
    assert len(added) == 1 and float(added[0]["kwh"]) == 12_500
    shown = page.evaluate(READ_FIGURES)
    total_mwh = sum(float(c["kwh"]) for c in after) / 1000
    assert float(shown["certificates.mwh"]) == pytest.approx(total_mwh)
