"""The guard: who asks is settled from the headers; bodies wait, and are bounded."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import pytest
import websockets

from tests.auth.conftest import BODY_LIMIT, ENV_ADMIN, ENV_READ, WS_PER_TOKEN, Api, served

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)

CERTS = "/api/v1/sites/guian/certificates"


def _certificate(reference: str) -> dict[str, str]:
    return {
        "reference": reference,
        "instrument_type": "GEC",
        "generation_first": "2026-06-01",
        "generation_last": "2026-06-30",
        "claimed_first": "2026-07-01",
        "claimed_last": "2026-07-31",
        "quantity": "2.5",
        "unit": "MWh",
        "registry": "China GEC trading platform",
        "serial": f"{reference}-S",
        "retired_on": "2026-07-02",
    }


CERT = _certificate("GEC-GUARD-0001")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer é".encode(),
        b"Bearer \xff\xfe",
        b"Bearer ",
        b"Bearer " + b"x" * 5000,
        b"Basic dXNlcjpwYXNz",
        b"Bearer two words",
    ],
)
async def test_malformed_tokens_are_401_never_500(api: Api, header: bytes) -> None:
    response = await api.http.get("/api/v1/sites", headers=[(b"authorization", header)])
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"]


@pytest.mark.parametrize("query", ["token=%C3%A9", "token=", "token=%00", "token=" + "y" * 300])
async def test_malformed_query_tokens_are_4xx(api: Api, query: str) -> None:
    response = await api.http.get(f"/api/v1/sites?{query}")
    assert response.status_code in {400, 401}, response.text


async def test_environment_tokens_keep_working(api: Api) -> None:
    assert (await api.http.get("/api/v1/sites", headers=api.bearer(ENV_READ))).status_code == 200
    assert (await api.http.post(CERTS, json=CERT, headers=api.bearer(ENV_READ))).status_code == 403
    made = await api.http.post(CERTS, json=CERT, headers=api.bearer(ENV_ADMIN))
    assert made.status_code == 201 and made.json()["kwh"] == "2500.0"


async def test_unauthenticated_bodies_are_never_read(api: Api) -> None:
    sent = 0

    async def upload() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(300):
            sent += 1
            yield b"{" * 1_000_000

    response = await api.http.post(CERTS, content=upload())
    assert response.status_code == 401
    assert sent <= 1, f"{sent} MB were read before the 401"
    malformed = await api.http.post(
        CERTS, content=b"{not json", headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 401  # not 422: nobody parses a stranger's body


async def test_bodies_above_the_limit_are_413_before_parsing(api: Api) -> None:
    before = (await api.http.get(CERTS, headers=api.bearer(api.viewer))).json()
    big = {**CERT, "reference": "r" * (BODY_LIMIT + 10)}
    announced = await api.http.post(CERTS, json=big, headers=api.bearer(api.admin))
    assert announced.status_code == 413
    assert str(BODY_LIMIT) in announced.json()["detail"]

    async def chunked() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b" " * 1024

    streamed = await api.http.post(
        CERTS,
        content=chunked(),
        headers={**api.bearer(api.admin), "content-type": "application/json"},
    )
    assert streamed.status_code == 413
    listed = await api.http.get(CERTS, headers=api.bearer(api.viewer))
    assert listed.json() == before


async def test_roles_of_named_tokens(api: Api) -> None:
    figures = "/api/v1/sites/guian/figures"
    assert (await api.http.get(figures, headers=api.bearer(api.kiosk))).status_code == 200
    for path in ("/api/v1/sites", "/api/v1/alerts", "/api/v1/factors", CERTS):
        refused = await api.http.get(path, headers=api.bearer(api.kiosk))
        assert refused.status_code == 403, path
        assert "kiosk" in refused.json()["detail"]
    assert (await api.http.get("/api/v1/sites", headers=api.bearer(api.viewer))).status_code == 200
    viewer_write = await api.http.post(CERTS, json=CERT, headers=api.bearer(api.viewer))
    assert viewer_write.status_code == 403
    assert (
        await api.http.get("/api/v1/rejected", headers=api.bearer(api.viewer))
    ).status_code == 403
    made = await api.http.post(
        CERTS, json=_certificate("GEC-GUARD-0002"), headers=api.bearer(api.admin)
    )
    assert made.status_code == 201, made.text
    assert (
        await api.http.get("/api/v1/rejected", headers=api.bearer(api.admin))
    ).status_code == 200
    # an admin token in a URL opens reads only
    in_url = await api.http.get(f"/api/v1/rejected?token={api.admin}")
    assert in_url.status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/alerts/2147483648",
        "/api/v1/alerts/99999999999999999999",
        "/api/v1/alerts?before_id=2147483648",
        "/api/v1/alerts?since=0001-01-01T00:00:00%2B14:00",
        "/api/v1/alerts?since=0.5",
        "/api/v1/sites/guian/history?end=0001-01-01T00:00:00",
        "/api/v1/meters/el-grid-in-1/readings?start=9999-12-31T23:59:59-14:00",
        "/api/v1/sites/gui%00an",
        "/api/v1/alerts?site=a%00b",
    ],
)
async def test_out_of_range_input_is_4xx_with_a_message(api: Api, path: str) -> None:
    response = await api.http.get(path, headers=api.bearer(api.viewer))
    assert 400 <= response.status_code < 500, (path, response.status_code, response.text)
    assert response.json()["detail"]


async def test_oversized_and_nul_strings_in_bodies_are_422(api: Api) -> None:
    long_ref = await api.http.post(
        CERTS, json={**CERT, "reference": "r" * 201}, headers=api.bearer(api.admin)
    )
    assert long_ref.status_code == 422
    nul = await api.http.post(
        CERTS,
        json={**_certificate("GEC-GUARD-0003"), "serial": "S\u00001"},
        headers=api.bearer(api.admin),
    )
    assert nul.status_code in {201, 422}  # SQLite stores it; PostgreSQL refuses it: never 500
    if api.backend.name == "postgresql":
        assert nul.status_code == 422 and "NUL" in nul.json()["detail"]


async def test_kiosk_opens_the_wall_websocket_within_its_cap(api: Api) -> None:
    async with served(api.app) as port:
        live = f"ws://127.0.0.1:{port}/api/v1/live/sites/guian"
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(WS_PER_TOKEN):
                ws = await stack.enter_async_context(
                    websockets.connect(f"{live}?token={api.kiosk}")
                )
                assert "periods" in json.loads(await asyncio.wait_for(ws.recv(), 20))
            async with websockets.connect(f"{live}?token={api.kiosk}") as over:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(over.recv(), 10)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
            # another token still gets in while this one is at its cap
            async with websockets.connect(f"{live}?token={api.viewer}") as other:
                assert "periods" in json.loads(await asyncio.wait_for(other.recv(), 20))
        for bad in ("%C3%A9", "nope", ""):
            async with websockets.connect(f"{live}?token={bad}") as refused:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(refused.recv(), 10)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_a_huge_unauthenticated_upload_gets_its_401_from_headers_alone(api: Api) -> None:
    """Over a real socket: 300 MB announced, none sent, the answer comes at once."""
    async with served(api.app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            f"POST {CERTS} HTTP/1.1\r\nHost: gp\r\nContent-Type: application/json\r\n"
            "Content-Length: 300000000\r\n\r\n".encode()
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 5)
        assert status_line.startswith(b"HTTP/1.1 401"), status_line
        writer.close()
