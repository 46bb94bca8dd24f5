"""Bearer tokens: a write/admin token and a read-only token (wall screens use the latter).

The checks routes depend on are in ``app.auth.deps``.
"""

from __future__ import annotations

import secrets
from enum import IntEnum

from app.config import Settings


class Access(IntEnum):
    NONE = 0
    READ = 1
    WRITE = 2


class Tokens:
    """The two tokens in force; comparisons are constant-time."""

    def __init__(self, write_token: str, read_token: str) -> None:
        if not write_token or not read_token:
            raise ValueError("both the write token and the read token must be set")
        self._write = write_token
        self._read = read_token

    @property
    def write_token(self) -> str:
        return self._write

    @property
    def read_token(self) -> str:
        return self._read

    def access(self, token: str | None) -> Access:
        if not token:
            return Access.NONE
        # bytes: compare_digest refuses non-ASCII str, and a client must never cause a 500
        raw = token.encode("utf-8", errors="replace")
        if secrets.compare_digest(raw, self._write.encode()):
            return Access.WRITE
        if secrets.compare_digest(raw, self._read.encode()):
            return Access.READ
        return Access.NONE


def resolve_tokens(settings: Settings) -> tuple[Tokens, bool]:
    """The configured tokens, or fresh random ones (returned flag True) when none are set."""
    write = settings.api_token.get_secret_value() if settings.api_token else None
    read = settings.read_token.get_secret_value() if settings.read_token else None
    generated = not (write and read)
    return Tokens(write or secrets.token_urlsafe(24), read or secrets.token_urlsafe(16)), generated
