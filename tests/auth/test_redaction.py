"""No secrets in logs: a wall-screen session's captured server output holds no token."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import websockets

from app.auth.redact import REDACTED, redact
from tests.serve_process import Served, command_env, greenpulse

READ = "wall-read-token-0123456789"
ADMIN = "admin-token-abcdefghijklmnop"


def test_redact_covers_query_tokens_and_bearer_headers() -> None:
    line = f'127.0.0.1:5 - "GET /wall/guian?lang=en&token={READ} HTTP/1.1" 200'
    assert READ not in redact(line) and REDACTED in redact(line)
    assert ADMIN not in redact(f"/api/v1/live/sites/guian?token%3D{ADMIN}")
    assert ADMIN not in redact(f"Authorization: Bearer {ADMIN}")
    assert redact("/api/v1/sites/guian/figures") == "/api/v1/sites/guian/figures"


async def test_wall_screen_session_leaves_no_token_in_the_logs(tmp_path: Path) -> None:
    env = command_env(
        f"sqlite:///{tmp_path / 'wall.db'}",
        GREENPULSE_API_TOKEN=ADMIN,
        GREENPULSE_READ_TOKEN=READ,
        GREENPULSE_LOG_LEVEL="DEBUG",
    )
    migrated = greenpulse(env, "migrate", cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    server = Served(env, tmp_path)
    server.start()
    try:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            page = await http.get(f"/wall/guian?token={READ}")
            assert page.status_code == 200 and "<html" in page.text.lower()
            figures = await http.get(f"/api/v1/sites/guian/figures?token={READ}")
            assert figures.status_code == 200
            assert "periods" in figures.json()
            # an admin token put in a URL by mistake: accepted for reading, never logged
            mistaken = await http.get(f"/api/v1/sites?token={ADMIN}")
            assert mistaken.status_code == 200
        ws_url = f"ws://127.0.0.1:{server.port}/api/v1/live/sites/guian?token={READ}"
        async with websockets.connect(ws_url) as ws:
            snapshot = json.loads(await asyncio.wait_for(ws.recv(), 20))
            assert "periods" in snapshot
    finally:
        logs = server.stop()
    assert "GET /wall/guian?token=" in logs, "the access log was captured"
    assert READ not in logs
    assert ADMIN not in logs
    assert logs.count(REDACTED) >= 3
