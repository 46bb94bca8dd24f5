"""``greenpulse serve``: the API, its websockets and the wall screen, under uvicorn."""

from __future__ import annotations

import uvicorn

from app.auth.tokens import Tokens
from app.commands.app import create_app
from app.config import Settings

WS_PING_S = 20


def run_serve(settings: Settings, tokens: Tokens, *, host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM (uvicorn's own handlers); migrates the schema first."""
    uvicorn.run(
        create_app(settings, tokens=tokens),
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        ws_ping_interval=WS_PING_S,
        ws_ping_timeout=WS_PING_S,
    )
