"""Nothing on the wall is cut off: every text element's box at three screen sizes, with zero
to three banners, and the pages ask for nothing outside the server (a plant network has
no internet)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, Page, WebSocketRoute

from tests.browser.conftest import Stack

pytestmark = pytest.mark.browser

SIZES = ((1280, 720), (1920, 1080), (3840, 2160))
CSP_BLOCKED = frozenset({"csp", "net::ERR_BLOCKED_BY_CSP"})
LIVE = "document.body.dataset.state === 'live' && document.body.dataset.connection === 'live'"

# every element with text of its own (and every SVG text): its box must lie inside the
# window and inside each ancestor that clips (overflow other than visible), and it must
# not overflow its own box
CLIPPED = """() => {
  const problems = [];
  // a glyph's ink may pass its line box by a pixel (two on 4K): not a clip
  const slack = Math.max(1, (2 * innerHeight) / 1080);
  const ownText = (e) => [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  const visible = (e) =>
    e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden';
  const name = (e) => `${e.tagName.toLowerCase()}.${[...e.classList].join('.')}` +
    `[${e.dataset.figure || e.dataset.flows || e.dataset.lever || ''}] ` +
    `"${e.textContent.trim().slice(0, 40)}"`;
  for (const e of document.querySelectorAll('body *')) {
    if (!ownText(e) || !visible(e) || e.closest('[hidden]')) continue;
    const r = e.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.left < -0.5 || r.top < -0.5 || r.right > innerWidth + 0.5 ||
        r.bottom > innerHeight + 0.5) {
      problems.push(`${name(e)} outside the window`);
      continue;
    }
    const own = getComputedStyle(e);
    if (!(e instanceof SVGElement) && own.display !== 'inline' &&
        (own.overflowX !== 'visible' || own.overflowY !== 'visible') &&
        (e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + slack)) {
      problems.push(`${name(e)} overflows its box (${e.scrollWidth}x${e.scrollHeight} in ` +
        `${e.clientWidth}x${e.clientHeight})`);
    }
    for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
      const style = getComputedStyle(a);
      if (style.overflowX === 'visible' && style.overflowY === 'visible' &&
          !(a instanceof SVGSVGElement)) continue;
      const p = a.getBoundingClientRect();
      if (r.left < p.left - 1 || r.right > p.right + 1 || r.top < p.top - slack ||
          r.bottom > p.bottom + slack) {
        problems.push(`${name(e)} clipped by ${name(a).split(' ')[0]}`);
        break;
      }
    }
  }
  // boxes that hold figures: nothing may stick out of them (wall.js shrinks numbers to fit)
  const boxes = '.panel, .tile, .banner, .alerts li, .hero-periods, .inv-row';
  for (const e of document.querySelectorAll(boxes)) {
    if (!visible(e) || e.closest('[hidden]')) continue;
    if (e.scrollWidth > e.clientWidth + slack || e.scrollHeight > e.clientHeight + slack) {
      problems.push(`${name(e)} overflows (${e.scrollWidth}x${e.scrollHeight} in ` +
        `${e.clientWidth}x${e.clientHeight})`);
    }
  }
  return problems;
}"""


def _alert(n: int, severity: str) -> dict[str, Any]:
    return {
        "id": 9000 + n,
        "kind": "spike",
        "severity": severity,
        "status": "open",
        "message": f"Spike on Electrode coating line {n} (meter el-coating-{n}, area Electrode "
        f"workshop): 2,412.5 kW vs 1,180.0 kW expected (threshold 1,650.0 kW) since 05:12",
        "opened_at": "2026-01-01T00:00:00Z",
    }


def banners(count: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Rewrite each live snapshot so the page shows ``count`` banners (0 to 3).

    The first is the "not live" banner (the newest reading made an hour old), the others
    alert rows (two or more warnings fold into one row and a "more" row).
    """

    def rewrite(snapshot: dict[str, Any]) -> dict[str, Any]:
        alerts = []
        if count >= 2:
            alerts = [_alert(1, "critical")]
        if count >= 3:
            alerts += [_alert(2, "warning"), _alert(3, "warning")]
        snapshot["alerts"] = alerts
        if count >= 1:
            snapshot["freshness"]["newest_reading_at"] = "2000-01-01T00:00:00Z"
        return snapshot

    return rewrite


def open_with(page: Page, url: str, rewrite: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Open the wall with its real websocket, each snapshot rewritten on its way."""

    def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def forward(message: str | bytes) -> None:
            data = json.loads(message)
            if isinstance(data, dict) and data.get("type") == "snapshot":
                data = rewrite(data)
            ws.send(json.dumps(data))

        server.on_message(forward)

    page.route_web_socket("**/api/v1/live/**", route)
    page.goto(url)


@pytest.mark.parametrize("banner_count", [0, 1, 2, 3])
@pytest.mark.parametrize(("width", "height"), SIZES)
def test_no_text_is_clipped(
    chromium: Browser,
    stack: Stack,
    artifacts: Path,
    width: int,
    height: int,
    banner_count: int,
) -> None:
    context = chromium.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        open_with(page, stack.wall_url(), banners(banner_count))
        page.wait_for_function(LIVE)
        page.wait_for_function(
            "(n) => document.querySelectorAll('.banners > [data-figure=stale-banner]:not([hidden]),"
            " .alerts:not([hidden]) li').length === n",
            arg=banner_count,
        )
        page.wait_for_timeout(2500)  # the chart redraws at its new size
        page.screenshot(path=str(artifacts / f"wall-{width}x{height}-{banner_count}b.png"))
        problems = page.evaluate(CLIPPED)
        assert problems == [], "\n".join(problems)
    finally:
        context.close()


def _external(requests: list[str], base: str) -> list[str]:
    origin = urlparse(base).netloc
    return [
        url
        for url in requests
        if not url.startswith(("data:", "blob:", "about:")) and urlparse(url).netloc != origin
    ]


@pytest.mark.parametrize(
    ("path", "ready"),
    [
        ("wall", LIVE),
        ("/docs", "document.querySelector('#swagger-ui .info .title') !== null"),
        ("/redoc", "document.querySelector('redoc h1, [role=main] h1, h1') !== null"),
    ],
)
def test_pages_load_nothing_from_outside_the_server(
    chromium: Browser, stack: Stack, path: str, ready: str
) -> None:
    context = chromium.new_context(viewport={"width": 1920, "height": 1080})
    requests: list[str] = []
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("request", lambda request: requests.append(request.url))
        # a request the page's Content-Security-Policy stops never leaves the browser
        page.on(
            "requestfailed",
            lambda r: requests.remove(r.url) if r.failure in CSP_BLOCKED else None,
        )
        page.on("websocket", lambda ws: requests.append(ws.url))
        url = stack.wall_url() if path == "wall" else stack.base_url + path
        page.goto(url, wait_until="networkidle")
        page.wait_for_function(ready)
        page.wait_for_timeout(1000)
        assert requests, "no request recorded"
        assert _external(requests, stack.base_url) == []
    finally:
        context.close()
