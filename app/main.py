"""``create_app()`` and the lifespan: the one place the API's resources are built and disposed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
from fastapi import FastAPI, HTTPException, status
from fastapi.responses import FileResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.api import alerts as alerts_api
from app.api import factors as factors_api
from app.api import live as live_api
from app.api import plant as plant_api
from app.api.auth import Tokens
from app.config import Settings
from app.db import migrate
from app.db.engine import make_engine, make_sessionmaker
from app.db.plant_sync import sync_plant
from app.domain.plant import Plant
from app.factor_catalogue import load_catalogue
from app.figures import FigureService
from app.live import LiveHub
from app.mqtt import client_kwargs
from app.offline_docs import install_offline_docs
from app.plant_file import load_plant

log = logging.getLogger(__name__)
WEB_DIR = Path(__file__).parent / "web"


def resolve_tokens(settings: Settings) -> tuple[Tokens, bool]:
    """The configured tokens, or fresh random ones (returned flag True) when none are set."""
    write = settings.api_token.get_secret_value() if settings.api_token else None
    read = settings.read_token.get_secret_value() if settings.read_token else None
    generated = not (write and read)
    return Tokens(write or secrets.token_urlsafe(24), read or secrets.token_urlsafe(16)), generated


def create_app(
    settings: Settings | None = None,
    *,
    plant: Plant | None = None,
    tokens: Tokens | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    live_interval_s: float = 1.0,
    extra_metrics: Sequence[CollectorRegistry] = (),
) -> FastAPI:
    """Build the API. Resources are created in the lifespan, never at import time.

    ``extra_metrics``: registries served on ``/metrics`` after the API's own (the demo
    runs the ingester and the alert engine in the same process).
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        factory = make_sessionmaker(engine)
        the_plant = plant or load_plant(settings.plant_file)
        storage = await asyncio.to_thread(migrate.upgrade, engine)
        await asyncio.to_thread(sync_plant, factory, the_plant)
        log.info("storage mode: %s (%s)", storage.mode.value, storage.reason)
        catalogue = load_catalogue(overrides=settings.factor_file)
        figures = FigureService(the_plant, catalogue.factors)

        def refresh_factors(session: Session) -> None:
            operator = factors_api.operator_factors(session)
            replaced = {f.id for f in operator}
            figures.factors = tuple(f for f in catalogue.factors if f.id not in replaced) + tuple(
                operator
            )

        with factory() as session:
            refresh_factors(session)
        hub = LiveHub(factory, figures, interval_s=live_interval_s, clock=clock)
        app.state.settings = settings
        app.state.engine = engine
        app.state.session_factory = factory
        app.state.plant = the_plant
        app.state.catalogue = catalogue
        app.state.figures = figures
        app.state.hub = hub
        app.state.storage = storage
        app.state.refresh_factors = refresh_factors
        app.state.clock = clock
        if tokens is not None:
            app.state.tokens = tokens
        elif not hasattr(app.state, "tokens"):
            app.state.tokens, _ = resolve_tokens(settings)
        nudger = asyncio.create_task(_listen_for_new_data(settings, hub), name="live-nudges")
        try:
            yield
        finally:
            nudger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await nudger
            await hub.close()
            engine.dispose()

    app = FastAPI(
        title="GreenPulse",
        version="0.1.0",
        summary="Real-time energy and carbon monitor for factories",
        lifespan=lifespan,
        docs_url=None,  # served by install_offline_docs: no CDN
        redoc_url=None,
    )
    install_offline_docs(app)
    if tokens is not None:
        app.state.tokens = tokens
    app.include_router(live_api.router)
    app.include_router(plant_api.router)
    app.include_router(factors_api.router)
    app.include_router(alerts_api.router)
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")

    registry = CollectorRegistry()
    clients = Gauge("greenpulse_live_clients", "websocket clients connected", registry=registry)
    computations = Gauge(
        "greenpulse_live_computations", "snapshots computed since start", registry=registry
    )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> dict[str, str]:
        try:
            with app.state.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, "database unreachable"
            ) from exc
        return {"status": "ready", "storage": app.state.storage.mode.value}

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> PlainTextResponse:
        clients.set(app.state.hub.client_count())
        computations.set(app.state.hub.computations)
        text = b"".join(generate_latest(r) for r in (registry, *extra_metrics))
        return PlainTextResponse(text, media_type=CONTENT_TYPE_LATEST)

    @app.get("/wall/{site_id}", include_in_schema=False)
    def wall(site_id: str) -> FileResponse:
        if site_id not in {s.id for s in app.state.plant.sites}:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no site {site_id!r}")
        return FileResponse(WEB_DIR / "wall.html", headers={"Cache-Control": "no-cache"})

    return app


async def _listen_for_new_data(settings: Settings, hub: LiveHub) -> None:
    """Recompute a site's figures as soon as the ingester says it committed new data.

    Optional: without a broker the figures still refresh every second.
    """
    topic = f"{settings.mqtt_topic_prefix}/+/live"
    while True:
        try:
            async with aiomqtt.Client(**client_kwargs(settings)) as client:
                await client.subscribe(topic, qos=0)
                async for message in client.messages:
                    hub.nudge(str(message.topic).split("/")[1])
        except aiomqtt.MqttError as exc:
            log.debug("live nudges unavailable (%s); retrying in 5 s", exc)
            await asyncio.sleep(5)
