"""The API's front door, as pure ASGI: who is asking is settled before any body is read.

For every HTTP request and websocket the guard, in this order:

1. refuses a NUL character in the path or query (400);
2. on routes that need a token, finds one (``Authorization: Bearer …``, or ``?token=``
   on reads and websockets), refuses a malformed one — empty, longer than
   ``MAX_TOKEN_CHARS``, anything but visible ASCII — and an unknown one with 401,
   a kiosk token outside the wall screen and a non-admin write with 403;
3. refuses a body announced larger than the limit with 413, and stops reading one
   that turns out larger (413 too) — the app never parses more than the limit;
4. caps websockets per token and in total (:mod:`app.auth.ws_limits`).

Nothing is read from the client before step 2 passes, so an unauthenticated upload
costs the server its headers only. The access decided here is left in the scope
(``ACCESS_KEY``) for the per-route checks of :mod:`app.auth.deps`.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy.orm import Session, sessionmaker

from app.auth.named_tokens import ActiveToken, Role, active_tokens, digest, record_last_use
from app.auth.tokens import Tokens
from app.auth.ws_limits import TRY_AGAIN_LATER, WebsocketLimits

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ACCESS_KEY = "greenpulse.access"  # 0 none, 1 read, 2 write (app.auth.tokens.Access)
PRINCIPAL_KEY = "greenpulse.principal"
MAX_TOKEN_CHARS = 256
DEFAULT_MAX_BODY_BYTES = 1_000_000
LAST_USE_FLUSH_S = 10.0

PUBLIC_EXACT = frozenset(
    {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
)
# pages and their assets; the data they show needs a token
PUBLIC_PREFIXES = ("/static/", "/static-docs/", "/vendor/", "/wall/", "/manager/")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# what a kiosk token opens besides the (public) wall page: the wall's figures and stream
KIOSK_HTTP = re.compile(r"^/api/v1/sites/[^/]+(/areas/[^/]+)?/figures$")
KIOSK_WS = re.compile(r"^/api/v1/live/sites/[^/]+(/areas/[^/]+)?$")
_VISIBLE_ASCII = re.compile(r"^[\x21-\x7e]+$")


@dataclass(frozen=True)
class Principal:
    key: str  # stable per token: "env:admin", "env:viewer", "token:<id>"
    role: Role
    token_id: int | None = None

    def access(self, *, from_query: bool) -> int:
        if self.role is Role.ADMIN and not from_query:
            return 2  # write tokens count only from the Authorization header
        return 1 if self.role in {Role.ADMIN, Role.VIEWER} else 0


class TokenStore:
    """The named tokens in force (by digest), and their last uses waiting to be written."""

    def __init__(self) -> None:
        self._by_digest: dict[str, ActiveToken] = {}
        self._used: dict[int, datetime] = {}
        self._flushed_at = time.monotonic()

    def load(self, factory: sessionmaker[Session]) -> None:
        with factory() as session:
            self._by_digest = active_tokens(session)

    def find(self, token: str) -> ActiveToken | None:
        found = self._by_digest.get(digest(token))
        if found is not None:
            self._used[found.id] = datetime.now(UTC)
        return found

    def flush_last_use(self, factory: sessionmaker[Session], *, force: bool = False) -> None:
        if not self._used or (not force and time.monotonic() - self._flushed_at < LAST_USE_FLUSH_S):
            return
        used, self._used = self._used, {}
        self._flushed_at = time.monotonic()
        with factory() as session, session.begin():
            record_last_use(session, used)


def _resolve(tokens: Tokens, store: TokenStore, token: str) -> Principal | None:
    raw = token.encode()
    if secrets.compare_digest(raw, tokens.write_token.encode()):
        return Principal("env:admin", Role.ADMIN)
    if secrets.compare_digest(raw, tokens.read_token.encode()):
        return Principal("env:viewer", Role.VIEWER)
    found = store.find(token)
    if found is None:
        return None
    return Principal(f"token:{found.id}", found.role, found.id)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def _is_public(path: str) -> bool:
    return path in PUBLIC_EXACT or path.startswith(PUBLIC_PREFIXES)


class AuthGuard:
    """Pure-ASGI middleware: see the module docstring for what it refuses and when."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        tokens: Tokens,
        store: TokenStore,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        ws_limits: WebsocketLimits | None = None,
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.store = store
        self.max_body_bytes = max_body_bytes
        self.ws_limits = ws_limits or WebsocketLimits()
        self.refused = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        query: bytes = scope.get("query_string", b"")
        if "\x00" in path or b"%00" in query.lower() or b"\x00" in query:
            await self._refuse(scope, receive, send, 400, "the address contains a NUL character")
            return
        method = scope.get("method", "GET")
        if not _is_public(path):
            decided = self._authenticate(scope, path, method, query)
            if isinstance(decided, tuple):
                await self._refuse(scope, receive, send, *decided)
                return
            scope[PRINCIPAL_KEY] = decided
        if kind == "websocket":
            await self._websocket(scope, receive, send)
            return
        await self._http(scope, receive, send)

    def _authenticate(
        self, scope: Scope, path: str, method: str, query: bytes
    ) -> Principal | tuple[int, str]:
        header = _header(scope, b"authorization")
        from_query = False
        if header is not None:
            scheme, _, credential = header.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer":
                return 401, "use an Authorization: Bearer <token> header"
            token = credential.strip()
        else:
            # tokens in URLs open reads and websockets only: a write needs the header
            readable = scope["type"] == "websocket" or method in SAFE_METHODS
            in_query = self._query_token(query) if readable else None
            if in_query is None:
                return 401, "a valid bearer token is required"
            token, from_query = in_query, True
        if not token or len(token) > MAX_TOKEN_CHARS or not _VISIBLE_ASCII.match(token):
            return 401, "the token is malformed (expected up to 256 visible ASCII characters)"
        principal = _resolve(self.tokens, self.store, token)
        if principal is None:
            return 401, "a valid bearer token is required"
        if principal.role is Role.KIOSK:
            allowed = (
                KIOSK_WS.match(path)
                if scope["type"] == "websocket"
                else method in SAFE_METHODS and KIOSK_HTTP.match(path)
            )
            if not allowed:
                return 403, "a kiosk token opens only the wall screen"
        elif (
            scope["type"] == "http"
            and method not in SAFE_METHODS
            and (principal.role is not Role.ADMIN or from_query)
        ):
            return 403, "this token is read-only"
        scope[ACCESS_KEY] = principal.access(from_query=from_query)
        if principal.role is Role.KIOSK:
            scope[ACCESS_KEY] = 1  # the kiosk routes are read routes
        return principal

    @staticmethod
    def _query_token(query: bytes) -> str | None:
        if b"token=" not in query:
            return None
        pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
        for name, value in pairs:
            if name == "token":
                return value
        return None

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        length = _header(scope, b"content-length")
        if length is not None:
            try:
                announced = int(length)
            except ValueError:
                await self._refuse(scope, receive, send, 400, "Content-Length is not a number")
                return
            if announced > self.max_body_bytes:
                await self._refuse(scope, receive, send, 413, self._too_large())
                return
        received = 0
        refused = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    refused = True
                    if not started:
                        await _send_json(send, 413, self._too_large())
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 went out instead
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, tracking_send)

    def _too_large(self) -> str:
        return f"the request body is larger than the limit of {self.max_body_bytes} bytes"

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal: Principal | None = scope.get(PRINCIPAL_KEY)
        if principal is None:
            await self.app(scope, receive, send)
            return
        why = self.ws_limits.admit(principal.key)
        if why is not None:
            await _close_websocket(receive, send, TRY_AGAIN_LATER, why)
            return
        try:
            await self.app(scope, receive, self.ws_limits.bounded_send(send))
        finally:
            self.ws_limits.release(principal.key)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, status: int, detail: str
    ) -> None:
        self.refused += 1
        if scope["type"] == "websocket":
            # accept then close with a reason: a browser cannot read why an upgrade failed
            await _close_websocket(receive, send, 1008, detail)
            return
        await _send_json(send, status, detail)


async def _send_json(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _close_websocket(receive: Receive, send: Send, code: int, reason: str) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": code, "reason": reason[:120]})


def install_guard(
    app: Any,
    *,
    tokens: Tokens,
    store: TokenStore,
    max_body_bytes: int,
    ws_limits: WebsocketLimits,
) -> None:
    """Put the guard in front of ``app``: environment ``tokens`` and the named-token ``store``."""
    app.add_middleware(
        AuthGuard, tokens=tokens, store=store, max_body_bytes=max_body_bytes, ws_limits=ws_limits
    )
