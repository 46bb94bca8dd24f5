"""``create_app()`` and the lifespan: the one place the API's resources are built and disposed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
from fastapi import FastAPI, HTTPException, status
from fastapi.responses import FileResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from app.api import alerts as alerts_api
from app.api import factors as factors_api
from app.api import live as live_api
from app.api import plant as plant_api
from app.api.auth import Tokens
from app.api_types import ERROR_RESPONSES, install_input_errors
from app.auth import redact
from app.auth.guard import install_guard
from app.auth.ws_limits import WebsocketLimits
from app.config import Settings
from app.db import schema_guard
from app.db.change_feed import KINDS, ChangeFeed, watch_writes
from app.db.engine import make_engine, make_sessionmaker
from app.db.plant_sync import sync_plant
from app.domain.plant import Plant
from app.factor_catalogue import load_catalogue
from app.figures import FigureService
from app.live import LiveHub
from app.mqtt import client_kwargs
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
) -> FastAPI:
    """Build the API. Resources are created in the lifespan, never at import time."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        factory = make_sessionmaker(engine)
        the_plant = plant or load_plant(settings.plant_file)
        storage = await asyncio.to_thread(schema_guard.require_current, engine)
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
        feed = _replica_feed(app, engine, factory, refresh_factors, hub)
        syncer = asyncio.create_task(feed.run(), name="change-feed")
        try:
            yield
        finally:
            for task in (nudger, syncer):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            app.state.token_store.flush_last_use(factory, force=True)
            await hub.close()
            engine.dispose()

    app = FastAPI(
        title="GreenPulse",
        version="0.1.0",
        summary="Real-time energy and carbon monitor for factories",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    if tokens is not None:
        app.state.tokens = tokens
    redact.install()
    watch_writes()
    install_input_errors(app)
    install_guard(
        app,
        max_body_bytes=settings.max_body_bytes,
        ws_limits=WebsocketLimits(settings.ws_max_total, settings.ws_max_per_token),
    )
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
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/wall/{site_id}", include_in_schema=False)
    def wall(site_id: str) -> FileResponse:
        if site_id not in {s.id for s in app.state.plant.sites}:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no site {site_id!r}")
        return FileResponse(WEB_DIR / "wall.html", headers={"Cache-Control": "no-cache"})

    return app


def _replica_feed(
    app: FastAPI,
    engine: Engine,
    factory: sessionmaker[Session],
    refresh_factors: Callable[[Session], None],
    hub: LiveHub,
) -> ChangeFeed:
    """Settings written through another process are used here within a poll interval."""

    def reload_factors() -> None:
        with factory() as session:
            refresh_factors(session)

    loop = asyncio.get_running_loop()

    def nudge_all() -> None:  # certificates, offsets, rules: recompute the live figures now
        for site in app.state.plant.sites:
            hub.nudge(site.id)

    store = app.state.token_store
    store.load(factory)
    feed = ChangeFeed(engine)
    feed.on({"factors"}, reload_factors)
    feed.on({"tokens"}, lambda: store.load(factory))
    feed.on(KINDS, lambda: loop.call_soon_threadsafe(nudge_all))
    feed.on_poll(lambda: store.flush_last_use(factory))
    return feed


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
