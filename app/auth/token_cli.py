"""``greenpulse token create|list|revoke``: named tokens, stored hashed in the database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.auth.named_tokens import (
    Role,
    TokenError,
    create_token,
    describe,
    list_tokens,
    revoke_token,
)

token_cli = typer.Typer(help="Named API tokens: create, list, revoke.", no_args_is_help=True)

DatabaseOption = Annotated[
    str | None, typer.Option("--database-url", help="default: GREENPULSE_DATABASE_URL")
]


def _factory(database_url: str | None) -> tuple[Engine, sessionmaker[Session]]:
    from app.config import Settings
    from app.db import schema_guard
    from app.db.change_feed import watch_writes
    from app.db.engine import make_engine, make_sessionmaker

    settings = Settings(database_url=database_url) if database_url else Settings()
    engine = make_engine(settings.database_url)
    try:
        schema_guard.require_current(engine)
    except schema_guard.SchemaMismatchError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from exc
    watch_writes()  # every API process reloads its tokens within a second
    return engine, make_sessionmaker(engine)


@token_cli.command("create")
def create(
    role: Annotated[Role, typer.Option(help="kiosk: wall only; viewer: reads; admin: all")],
    name: Annotated[str, typer.Option(help="what the token is for, e.g. 'hall-2 wall'")],
    database_url: DatabaseOption = None,
) -> None:
    """Make a token and print it once; only its SHA-256 is stored."""
    engine, factory = _factory(database_url)
    try:
        with factory() as session, session.begin():
            token, named = create_token(session, name=name, role=role, now=datetime.now(UTC))
    except TokenError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from exc
    finally:
        engine.dispose()
    typer.echo(
        f"created token {named.id} {named.name!r} ({named.role.value}); keep it now, "
        "it is not shown again:"
    )
    typer.echo(token)


@token_cli.command("list")
def list_(database_url: DatabaseOption = None) -> None:
    """Every named token: role, created, last used, revoked (never the token)."""
    engine, factory = _factory(database_url)
    try:
        with factory() as session:
            lines = describe(list_tokens(session))
    finally:
        engine.dispose()
    typer.echo("\n".join(lines))


@token_cli.command("revoke")
def revoke(
    token: Annotated[str, typer.Argument(help="the token's name or id")],
    database_url: DatabaseOption = None,
) -> None:
    """Revoke a token: every API process refuses it within a second."""
    engine, factory = _factory(database_url)
    try:
        with factory() as session, session.begin():
            named = revoke_token(session, token, now=datetime.now(UTC))
    except TokenError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from exc
    finally:
        engine.dispose()
    typer.echo(f"revoked token {named.id} {named.name!r} ({named.role.value})")
