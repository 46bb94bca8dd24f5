"""The wall screen in headless Chromium against a running server with live readings."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.conftest import Stack

pytestmark = pytest.mark.browser

T = TypeVar("T")
WAIT_MS = 15_000

# every figure the page shows, read with its raw number, text and unit
READ_FIGURES = """() => Object.fromEntries(
  [...document.querySelectorAll('[data-figure][data-value]')].map((e) => [
    e.dataset.figure,
    {value: e.dataset.value, text: e.textContent.trim(), unit: e.dataset.unit || null},
  ]))"""
READ_TILES = """() => Object.fromEntries(
  [...document.querySelectorAll('.tile[data-flows]')]
    .filter((t) => t.dataset.flows.split(' ').length === 1 && t.dataset.flows)
    .map((t) => [t.dataset.flows, {
      stale: t.dataset.stale === 'true',
      badge: getComputedStyle(t.querySelector('.badge')).display !== 'none',
      tag: t.querySelector('.tag').textContent,
    }]))"""
LIVE = "document.body.dataset.state === 'live' && document.body.dataset.connection === 'live'"


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        yield page
    finally:
        context.close()


def generated_at(page: Page) -> datetime:
    raw = page.evaluate("document.body.dataset.generatedAt")
    return datetime.fromisoformat(raw.replace("Z", "+00:00"))


def wait_for_snapshot_after(page: Page, moment: datetime) -> None:
    page.wait_for_function(
        "(t) => Date.parse(document.body.dataset.generatedAt || 0) > t",
        arg=moment.timestamp() * 1000,
    )


def expected(api: dict[str, Any]) -> dict[str, float | None]:
    """What the page must show, by data-figure name, straight from the API's snapshot."""
    hour, today, year = (api["periods"][p]["co2"] for p in ("hour", "today", "year"))
    figures: dict[str, float | None] = {
        "co2-reduced-hour": hour["co2_reduced_kg"],
        "co2-reduced-today": today["co2_reduced_kg"],
        "co2-reduced-year": year["co2_reduced_kg"],
        "inventory-location-today": today["inventory_location_kg"],
        "inventory-market-today": today["inventory_market_kg"],
        "avoided-pv-today": today["avoided_pv_kg"],
        "offsets-retired-year": year["offsets_retired_kg"],
        "pv-share-now": api["pv_share_now"],
        "pv-share-today": api["periods"]["today"]["pv_share"],
    }
    for lever in today["levers"]:
        figures[f"lever-{lever['name']}-today"] = lever["kg"]
    for flow in ("grid_import", "pv", "grid_export", "consumption", "gas", "water"):
        power = api["power"][flow]
        # a stale tile shows what its meters said last, dimmed, rather than a made-up zero
        figures[f"power-{flow}"] = power["last_value"] if power["stale"] else power["value"]
    return figures


def as_number(text: str) -> float:
    return float(text.replace(",", "").replace("\u2212", "-").replace("+", ""))


def mismatches(shown: dict[str, dict[str, Any]], api: dict[str, Any]) -> list[str]:
    problems = []
    for name, want in expected(api).items():
        got = shown.get(name)
        if got is None:
            problems.append(f"{name}: not on the page")
        elif want is None:
            if got["value"] != "":
                problems.append(f"{name}: page {got['value']!r}, API null")
        elif round(float(got["value"]), 2) != round(want, 2):
            problems.append(f"{name}: page {got['value']}, API {want}")
    # what is written on the screen is the same number, to two decimals, in its unit
    for name in ("co2-reduced-hour", "co2-reduced-today", "co2-reduced-year"):
        got, want = shown.get(name), expected(api)[name]
        if got is None or want is None:
            continue
        scale = 1000 if got["unit"] == "t" else 1
        if f"{as_number(got['text']):.2f}" != f"{want / scale:.2f}":
            problems.append(f"{name}: shows {got['text']} {got['unit']}, API {want} kg")
    return problems


def retry(attempts: int, pause_s: float, check: Callable[[], list[str]]) -> list[str]:
    problems: list[str] = []
    for _ in range(attempts):
        problems = check()
        if not problems:
            return []
        time.sleep(pause_s)
    return problems


def test_wall_shows_the_api_figures_live(page: Page, stack: Stack) -> None:
    assert stack.live is not None
    page.goto(stack.wall_url())
    page.wait_for_function(LIVE)
    first = page.get_attribute('[data-figure="co2-reduced-hour"]', "data-value")
    assert first, "no hero figure"
    # readings keep arriving: the hero figure moves without a reload
    page.wait_for_function(
        "(v) => document.querySelector('[data-figure=\"co2-reduced-hour\"]').dataset.value !== v",
        arg=first,
    )

    # hold the feed, let the page take a snapshot computed after the last commit, compare
    stack.live.pause()
    try:
        wait_for_snapshot_after(page, datetime.now(UTC))

        def compare() -> list[str]:
            api = stack.figures()
            return mismatches(page.evaluate(READ_FIGURES), api)

        assert retry(4, 1.0, compare) == []
    finally:
        stack.live.resume()

    api = stack.figures()
    levers = {lever["name"] for lever in api["periods"]["today"]["co2"]["levers"]}
    assert levers == {"pv", "certificates", "efficiency", "water_reuse"}
    # the efficiency lever is negative in this feed: shown with its sign and in words
    efficiency = page.locator('[data-lever="efficiency"]')
    assert efficiency.get_attribute("data-sign") == "negative"
    assert "\u2212" in efficiency.locator(".num").inner_text()
    assert "above the baseline" in efficiency.inner_text()

    # the silent water meter: the API says stale, the tile says so in words
    tiles = page.evaluate(READ_TILES)
    for flow, tile in tiles.items():
        assert tile["stale"] == tile["badge"] == api["power"][flow]["stale"], flow
    assert tiles["water"]["tag"] == "water-office is silent"
    assert api["power"]["water"]["silent"] == ["water-office"]
    assert tiles["water"]["stale"] and not tiles["gas"]["stale"]

    # open alerts, most severe first, severity in words as well as colour
    alerts = page.locator('[data-figure="alerts"] li')
    assert alerts.count() == len(api["alerts"]) == 2
    assert alerts.nth(0).get_attribute("data-severity") == "critical"
    assert "critical" in alerts.nth(0).inner_text().lower()
    assert "Compressor 1" in alerts.nth(0).inner_text()
    assert page.locator('[data-figure="stale-banner"]').is_hidden()


def test_wall_recovers_from_a_server_restart(page: Page, stack: Stack) -> None:
    page.goto(stack.wall_url())
    page.wait_for_function(LIVE)
    page.evaluate("window.__sameDocument = true")

    stack.kill()
    page.wait_for_function(
        "document.body.dataset.connection !== 'live' && document.body.dataset.stale === 'true'",
        timeout=10_000,
    )
    banner = page.locator('[data-figure="stale-banner"]')
    assert banner.is_visible()
    assert "reconnecting" in banner.inner_text()
    assert page.locator('[data-figure="connection"]').inner_text().lower() != "live"

    restarted = datetime.now(UTC)
    stack.start()
    page.wait_for_function(LIVE, timeout=WAIT_MS)
    wait_for_snapshot_after(page, restarted)
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    page.wait_for_function("document.body.dataset.stale === 'false'", timeout=5_000)
    assert banner.is_hidden()


def test_wall_polls_while_websockets_are_refused(page: Page, stack: Stack) -> None:
    # as behind a proxy that refuses the upgrade: every websocket closes at once
    page.route_web_socket(re.compile(r".*/api/v1/live/"), lambda ws: ws.close())
    page.goto(stack.wall_url())
    page.wait_for_function(
        "document.body.dataset.state === 'live' && document.body.dataset.connection === 'polling'"
    )
    wait_for_snapshot_after(page, generated_at(page))
    assert page.evaluate("document.body.dataset.source") == "rest"
    banner = page.locator('[data-figure="stale-banner"]')
    assert banner.is_visible() and "refreshed every" in banner.inner_text()
    assert page.get_attribute('[data-figure="co2-reduced-hour"]', "data-value")


LAYOUT = """() => ({
  scrollW: document.documentElement.scrollWidth,
  scrollH: document.documentElement.scrollHeight,
  hero: parseFloat(getComputedStyle(document.querySelector('.hero-number')).fontSize),
  compact: document.body.classList.contains('compact'),
  overflowing: [...document.querySelectorAll('.panel, .tile, .lever')]
    .filter((e) => e.scrollHeight > e.clientHeight + 1 || e.scrollWidth > e.clientWidth + 1
                || e.getBoundingClientRect().bottom > innerHeight)
    .map((e) => `${e.className} ${e.dataset.flows || e.dataset.lever || ''}`),
})"""
# kiosk screens: 1080p, and 4K at device scale factor 1 (the same layout, twice the pixels)
SCREENS = ((1920, 1080, 150), (3840, 2160, 300))


def test_wall_screenshots_fit_and_are_legible(
    chromium: Browser, stack: Stack, artifacts: Path
) -> None:
    contexts = [
        chromium.new_context(viewport={"width": w, "height": h}, device_scale_factor=1)
        for w, h, _ in SCREENS
    ]
    try:
        pages = [context.new_page() for context in contexts]
        for page in pages:  # both load at once, so the waits below overlap
            page.set_default_timeout(WAIT_MS)
            page.goto(stack.wall_url())
        for page, (width, height, hero_min_px) in zip(pages, SCREENS, strict=True):
            page.wait_for_function(LIVE)
            # the 24 hourly averages plus at least two live points appended
            page.wait_for_function(
                "Number(document.querySelector('[data-figure=\"power-chart\"]').dataset.value) >= 2"
            )
            page.screenshot(path=str(artifacts / f"wall-{width}x{height}.png"))
            layout = page.evaluate(LAYOUT)
            assert layout["scrollW"] <= width and layout["scrollH"] <= height
            # legible from five metres: the hero number is huge, nothing is cut off
            assert layout["hero"] >= hero_min_px
            assert layout["overflowing"] == []
            assert not layout["compact"], "the normal screen needed the compact layout"
    finally:
        for context in contexts:
            context.close()


@pytest.mark.parametrize(
    ("token", "says"),
    [(None, "needs its access token"), ("not-the-token", "was refused")],
)
def test_wall_without_a_valid_token_says_so(
    page: Page, stack: Stack, token: str | None, says: str
) -> None:
    page.goto(stack.wall_url(token=token))
    page.wait_for_function("document.body.dataset.state === 'error'", timeout=10_000)
    message = page.locator('[data-figure="message"]')
    assert message.is_visible()
    assert says in message.inner_text()
    assert "GREENPULSE_READ_TOKEN" in message.inner_text()
    assert page.locator("main.wall").is_hidden()
    assert page.get_attribute('[data-figure="connection"]', "data-value") == "error"
