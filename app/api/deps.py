"""FastAPI dependencies shared by the feature routers: the session, the plant, the live hub."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, status
from sqlalchemy.orm import Session

from app.api.state import StateDep
from app.domain.plant import Plant
from app.figures.live import LiveHub
from app.figures.service import Scope, scope_for


def get_session(state: StateDep) -> Iterator[Session]:
    """A session per request; it commits at the end of a successful request (the boundary)."""
    with state.session_factory() as session, session.begin():
        yield session


def get_plant(state: StateDep) -> Plant:
    return state.plant


def get_hub(state: StateDep) -> LiveHub:
    return state.hub


SessionDep = Annotated[Session, Depends(get_session)]
PlantDep = Annotated[Plant, Depends(get_plant)]
HubDep = Annotated[LiveHub, Depends(get_hub)]


def resolve_scope(plant: Plant, site_id: str, area_id: str | None = None) -> Scope:
    try:
        return scope_for(plant, site_id, area_id)
    except KeyError:
        what = f"area {area_id!r} of site {site_id!r}" if area_id else f"site {site_id!r}"
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {what}") from None
