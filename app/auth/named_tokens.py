"""Named, revocable API tokens: stored as SHA-256 digests, one role each, last use kept.

A token is 32 random bytes (``gp_`` + URL-safe base64); its SHA-256 is what the
database holds, so a copy of the database opens nothing. High-entropy secrets need
no slow hash: finding a preimage of SHA-256 is the attack, not guessing a password.

Roles, from least to most:

- ``kiosk``: the wall screen only (its page, its figures and its websocket);
- ``viewer``: every read route;
- ``admin``: every route, writes included.

The environment tokens (``GREENPULSE_API_TOKEN``, ``GREENPULSE_READ_TOKEN``) keep
working beside these as ``admin`` and ``viewer``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Integer, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.db.base import Base
from app.db.types import UtcDateTime

TOKEN_PREFIX = "gp_"
NAME_MAX = 100


class Role(StrEnum):
    KIOSK = "kiosk"
    VIEWER = "viewer"
    ADMIN = "admin"


class ApiTokenRow(Base):
    """One named token; ``revoked_at`` set means it opens nothing any more."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


@dataclass(frozen=True)
class NamedToken:
    """What ``token list`` shows: never the token itself."""

    id: int
    name: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenError(ValueError):
    """A token cannot be created or revoked as asked (the message says why)."""


def digest(token: str) -> str:
    """The stored form of a token (hex SHA-256 of its UTF-8 bytes)."""
    return hashlib.sha256(token.encode("utf-8", errors="surrogatepass")).hexdigest()


def _utc(t: datetime | None) -> datetime | None:
    if t is None:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _named(row: ApiTokenRow) -> NamedToken:
    return NamedToken(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        created_at=_utc(row.created_at) or row.created_at,
        last_used_at=_utc(row.last_used_at),
        revoked_at=_utc(row.revoked_at),
    )


def create_token(
    session: Session, *, name: str, role: Role, now: datetime
) -> tuple[str, NamedToken]:
    """Make a token; the plain token is returned once and never stored."""
    name = name.strip()
    if not name or len(name) > NAME_MAX or not name.isprintable():
        raise TokenError(f"a token name is 1 to {NAME_MAX} printable characters")
    if session.scalar(select(ApiTokenRow.id).where(ApiTokenRow.name == name)) is not None:
        raise TokenError(f"a token named {name!r} exists already (revoke it or pick another name)")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiTokenRow(name=name, role=role.value, token_sha256=digest(token), created_at=now)
    session.add(row)
    session.flush()
    return token, _named(row)


def list_tokens(session: Session) -> list[NamedToken]:
    return [_named(r) for r in session.scalars(select(ApiTokenRow).order_by(ApiTokenRow.id))]


def revoke_token(session: Session, name_or_id: str, *, now: datetime) -> NamedToken:
    """Revoke by name (or by id when the argument is a number); revoking twice is an error."""
    query = select(ApiTokenRow).where(ApiTokenRow.name == name_or_id)
    if name_or_id.isdigit() and len(name_or_id) < 10:
        query = select(ApiTokenRow).where(
            (ApiTokenRow.name == name_or_id) | (ApiTokenRow.id == int(name_or_id))
        )
    row = session.scalars(query).first()
    if row is None:
        raise TokenError(f"no token {name_or_id!r}")
    if row.revoked_at is not None:
        raise TokenError(f"token {row.name!r} was revoked already")
    row.revoked_at = now
    session.flush()
    return _named(row)


@dataclass(frozen=True)
class ActiveToken:
    id: int
    name: str
    role: Role


def active_tokens(session: Session) -> dict[str, ActiveToken]:
    """Every token not revoked, by digest: what the guard keeps in memory."""
    rows = session.execute(
        select(ApiTokenRow.id, ApiTokenRow.name, ApiTokenRow.role, ApiTokenRow.token_sha256).where(
            ApiTokenRow.revoked_at.is_(None)
        )
    )
    return {sha: ActiveToken(id_, name, Role(role)) for id_, name, role, sha in rows}


def record_last_use(session: Session, used: Mapping[int, datetime]) -> None:
    """Write the newest use of each token (batched by the guard, not once per request)."""
    for token_id, when in used.items():
        session.execute(
            update(ApiTokenRow).where(ApiTokenRow.id == token_id).values(last_used_at=when)
        )


def describe(tokens: Iterable[NamedToken]) -> list[str]:
    """Lines for ``greenpulse token list``."""

    def stamp(t: datetime | None) -> str:
        return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t else "-"

    lines = [f"{'id':>4}  {'name':<24} {'role':<7} {'created':<20} {'last used':<20} revoked"]
    for t in tokens:
        lines.append(
            f"{t.id:>4}  {t.name:<24} {t.role.value:<7} {stamp(t.created_at):<20} "
            f"{stamp(t.last_used_at):<20} {stamp(t.revoked_at)}"
        )
    return lines
