"""Websocket caps: so many live connections per token and in total; slow clients shed.

The guard asks :meth:`WebsocketLimits.admit` before a websocket reaches the app and
releases the slot when the connection ends. Beyond a cap the connection is accepted
and closed at once with 1013 (try again later) and a reason, so a wall screen can say
why. Slow clients: every frame the app sends must leave within ``send_timeout_s`` or
the connection is dropped. Idle and dead clients: uvicorn pings every 20 s and drops a
client that does not answer within 20 s (``greenpulse serve`` sets both).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]

TRY_AGAIN_LATER = 1013


class SlowClientError(Exception):
    """A frame could not be sent within the send timeout."""


@dataclass
class WebsocketLimits:
    max_total: int = 500
    max_per_token: int = 20
    send_timeout_s: float = 10.0
    _open: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    shed_slow: int = 0

    @property
    def total(self) -> int:
        return sum(self._open.values())

    def admit(self, token_key: str) -> str | None:
        """Take a slot for ``token_key``; return why not when a cap is reached."""
        if self.total >= self.max_total:
            self.refused += 1
            return f"the server holds its maximum of {self.max_total} live connections"
        if self._open[token_key] >= self.max_per_token:
            self.refused += 1
            return f"this token holds its maximum of {self.max_per_token} live connections"
        self._open[token_key] += 1
        return None

    def release(self, token_key: str) -> None:
        self._open[token_key] -= 1
        if self._open[token_key] <= 0:
            del self._open[token_key]

    def bounded_send(self, send: Send) -> Send:
        """``send`` that gives up on a client not taking a frame within the timeout."""

        async def _send(message: Message) -> None:
            try:
                await asyncio.wait_for(send(message), self.send_timeout_s)
            except TimeoutError:
                self.shed_slow += 1
                raise SlowClientError(f"no frame taken in {self.send_timeout_s} s") from None

        return _send
