"""What the API's lifespan builds, as one typed object, and the dependency that hands it out.

``create_app()`` (``app.commands.app``) builds an ``AppState`` when the application
starts and disposes of its parts when it stops; routes ask for it (or for one of its
parts) through ``StateDep`` instead of reading loose attributes off ``app.state``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp

from app.auth.guard import TokenStore
from app.auth.tokens import Tokens
from app.carbon.catalogue import Catalogue
from app.config import Settings
from app.db.timescale import StorageInfo
from app.domain.plant import Plant
from app.energy.service import EnergyService
from app.figures.live import LiveHub
from app.figures.service import FigureService

ATTRIBUTE = "greenpulse"
"""The one attribute of ``app.state`` the lifespan sets."""


@dataclass(frozen=True, slots=True)
class AppState:
    """The resources of one API process, built in the lifespan and disposed after it."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    plant: Plant
    tokens: Tokens
    token_store: TokenStore
    """Named tokens (``greenpulse token``), kept in step with the database by the change feed."""
    storage: StorageInfo
    catalogue: Catalogue
    figures: FigureService
    hub: LiveHub
    clock: Callable[[], datetime]
    refresh_factors: Callable[[Session], None]
    """Re-read the operator's emission factors into ``figures`` (after one changes)."""
    energy: EnergyService
    """The sites' energy settings (energy file) and the kgce coefficient catalogue."""


def state_of(app: ASGIApp) -> AppState:
    """The state the lifespan built; an error while the application has not started."""
    state = getattr(getattr(app, "state", None), ATTRIBUTE, None)
    if not isinstance(state, AppState):
        raise RuntimeError("the application has not started: its lifespan builds the state")
    return state


def get_state(connection: HTTPConnection) -> AppState:
    return state_of(connection.app)


StateDep = Annotated[AppState, Depends(get_state)]
