"""An API over a real database, with the environment tokens and three named ones."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from app.auth.named_tokens import Role, create_token
from app.auth.tokens import Tokens
from app.commands.app import create_app
from app.config import Settings
from app.plant.file import load_plant
from app.plant.sync import sync_plant
from tests.conftest import Backend

ENV_ADMIN = "env-admin-token-for-guard-tests"
ENV_READ = "env-read-token-for-guard-tests"
BODY_LIMIT = 4096
WS_PER_TOKEN = 3


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[int]:
    """The app (lifespan already running) behind a real uvicorn on a free port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@dataclass
class Api:
    app: FastAPI
    http: httpx.AsyncClient
    backend: Backend
    kiosk: str
    viewer: str
    admin: str

    @staticmethod
    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def api(clean_backend: Backend) -> AsyncIterator[Api]:
    plant = load_plant()
    sync_plant(clean_backend.factory, plant)
    now = datetime.now(UTC)
    with clean_backend.factory() as session, session.begin():
        kiosk, _ = create_token(session, name="hall wall", role=Role.KIOSK, now=now)
        viewer, _ = create_token(session, name="dashboard", role=Role.VIEWER, now=now)
        admin, _ = create_token(session, name="ops", role=Role.ADMIN, now=now)
    settings = Settings(
        database_url=clean_backend.url,
        mqtt_url="mqtt://127.0.0.1:1",
        max_body_bytes=BODY_LIMIT,
        ws_max_per_token=WS_PER_TOKEN,
    )
    app = create_app(settings, plant=plant, tokens=Tokens(ENV_ADMIN, ENV_READ))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gp") as http:
            yield Api(app, http, clean_backend, kiosk, viewer, admin)
