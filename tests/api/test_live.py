"""Live stream over a real uvicorn server and real websocket clients."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import uvicorn
import websockets

from app.api.state import state_of
from app.auth.tokens import Tokens
from app.commands.app import create_app
from app.config import Settings
from app.figures.live import Mailbox
from app.plant.file import load_plant
from app.plant.sync import sync_plant
from ingest.decode import DecodedReading
from ingest.writer import BatchWriter
from tests.conftest import Backend

TOKENS = Tokens("write-token-live", "read-token-live")


async def test_a_slow_client_only_ever_holds_the_newest_snapshot() -> None:
    mailbox = Mailbox()
    for n in range(1000):
        mailbox.put(f'{{"n": {n}}}')
    assert json.loads(await mailbox.get()) == {"n": 999}
    assert mailbox.coalesced == 999


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def server(clean_backend: Backend) -> AsyncIterator[tuple[str, object]]:
    plant = load_plant()
    sync_plant(clean_backend.factory, plant)
    now = datetime.now(UTC).replace(microsecond=0)
    BatchWriter(clean_backend.factory, plant, clean_backend.storage).write(
        [
            DecodedReading.at(
                "guian", "el-grid-in-1", now - timedelta(minutes=m), 100 + (5 - m) / 20, "kWh", None
            )
            for m in range(5, -1, -1)
        ],
        [],
        now=now,
    )
    settings = Settings(database_url=clean_backend.url, mqtt_url="mqtt://127.0.0.1:1")
    app = create_app(settings, plant=plant, tokens=TOKENS)
    port = _free_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(uv.serve())
    for _ in range(200):
        if uv.started:
            break
        await asyncio.sleep(0.05)
    assert uv.started
    try:
        yield f"ws://127.0.0.1:{port}/api/v1/live/sites/guian", app
    finally:
        uv.should_exit = True
        await asyncio.wait_for(task, 15)


@pytest.mark.parametrize("backend", ["sqlite", "timescaledb"], indirect=True)
async def test_snapshot_on_connect_then_at_least_one_a_second(
    server: tuple[str, object],
) -> None:
    url, _ = server
    async with (
        websockets.connect(f"{url}?token=read-token-live") as a,
        websockets.connect(
            url, additional_headers={"Authorization": "Bearer read-token-live"}
        ) as b,
    ):
        first = json.loads(await asyncio.wait_for(a.recv(), 5))
        assert first["type"] == "snapshot" and first["site"]["id"] == "guian"
        # five readings, one a minute, 1/20 kWh x CT ratio 2000 = 100 kWh each
        assert first["power"]["grid_import"]["value"] == pytest.approx(6000)
        loop = asyncio.get_running_loop()
        started = loop.time()
        frames = [json.loads(await asyncio.wait_for(b.recv(), 5)) for _ in range(4)]
        elapsed = loop.time() - started
        assert elapsed < 4.5  # four frames: at least one a second
        assert all(f["type"] == "snapshot" for f in frames)


CLIENTS = 4
WINDOW_S = 3.0


async def _frames(ws: websockets.ClientConnection, until: float) -> list[str]:
    loop = asyncio.get_running_loop()
    got: list[str] = []
    while (left := until - loop.time()) > 0:
        try:
            got.append(str(await asyncio.wait_for(ws.recv(), left)))
        except TimeoutError:
            break
    return got


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_one_computation_per_tick_whatever_the_number_of_clients(
    server: tuple[str, object],
) -> None:
    """Four clients of one site for three seconds: the hub computes once a tick (about
    three times, not twelve) and every client gets the very same frames."""
    url, app = server
    hub = state_of(app).hub  # type: ignore[arg-type]
    clients = [await websockets.connect(f"{url}?token=read-token-live") for _ in range(CLIENTS)]
    try:
        for ws in clients:  # everyone subscribed and past the snapshot on connect
            await asyncio.wait_for(ws.recv(), 5)
        loop = asyncio.get_running_loop()
        before, started = hub.computations, loop.time()
        received = await asyncio.gather(*(_frames(ws, started + WINDOW_S) for ws in clients))
        computed = hub.computations - before
        elapsed = loop.time() - started
    finally:
        for ws in clients:
            await ws.close()
    assert all(len(frames) >= 2 for frames in received)  # the feed ticks for everyone
    # one feed for the site, ticking once a second: never one computation per client
    assert computed <= elapsed / 1.0 + 1
    # the frames are one computation's text, fanned out: each client holds the others'
    common = set(received[0]).intersection(*map(set, received[1:]))
    assert len(common) >= min(len(frames) for frames in received) - 1


async def test_a_bad_token_is_refused_with_1008(server: tuple[str, object]) -> None:
    url, _ = server
    async with websockets.connect(f"{url}?token=wrong") as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
