"""The token checks routes depend on: ``ReadAccess``, ``WriteAccess``, websocket access."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request, WebSocket, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.api.state import state_of
from app.auth.guard import ACCESS_KEY
from app.auth.tokens import Access, Tokens

_bearer = HTTPBearer(auto_error=False)


def _tokens(request: Request) -> Tokens:
    return state_of(request.app).tokens


def _require(level: Access, tokens: Tokens, token: str | None, scope: Any = None) -> Access:
    # the guard (app.auth.guard) has decided already when it runs; named tokens need it
    granted = Access(scope[ACCESS_KEY]) if scope and ACCESS_KEY in scope else tokens.access(token)
    if granted is Access.NONE:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a valid bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if granted < level:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this token is read-only")
    return granted


def _token_from(
    credentials: HTTPAuthorizationCredentials | None, query_token: str | None
) -> str | None:
    return credentials.credentials if credentials else query_token


def require_read(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    token: Annotated[str | None, Query(description="read-only token for kiosks")] = None,
) -> Access:
    return _require(Access.READ, _tokens(request), _token_from(credentials, token), request.scope)


def require_write(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Access:
    # write tokens travel in the Authorization header only, never in URLs
    return _require(Access.WRITE, _tokens(request), _token_from(credentials, None), request.scope)


def websocket_access(websocket: WebSocket) -> Access:
    """Token from ``?token=`` or the Authorization header of the upgrade request."""
    if ACCESS_KEY in websocket.scope:
        return Access(websocket.scope[ACCESS_KEY])
    tokens = state_of(websocket.app).tokens
    header = websocket.headers.get("authorization", "")
    token = (
        header[7:] if header.lower().startswith("bearer ") else websocket.query_params.get("token")
    )
    return tokens.access(token)


ReadAccess = Annotated[Access, Depends(require_read)]
WriteAccess = Annotated[Access, Depends(require_write)]
