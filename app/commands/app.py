"""``create_app()`` and the lifespan: the one place the API's resources are built and disposed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI, HTTPException, status
from fastapi.responses import FileResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.alerts import api as alerts_api
from app.api.docs import install_offline_docs
from app.api.state import ATTRIBUTE, AppState, state_of
from app.api_types import ERROR_RESPONSES, install_input_errors
from app.auth import redact
from app.auth.guard import TokenStore, install_guard
from app.auth.tokens import Tokens, resolve_tokens
from app.auth.ws_limits import WebsocketLimits
from app.carbon import api as factors_api
from app.carbon import instruments_api
from app.carbon.catalogue import load_catalogue
from app.config import Settings
from app.db import schema_guard, timescale
from app.db.change_feed import KINDS, ChangeFeed, watch_writes
from app.db.engine import make_engine, make_sessionmaker
from app.domain.plant import Plant
from app.energy import api as energy_api
from app.energy.setup import build_energy_service
from app.figures import api as live_api
from app.figures.carbon import demo_baselines
from app.figures.live import LiveHub, listen_for_new_data
from app.figures.service import FigureService
from app.history import api as history_api
from app.plant import api as plant_api
from app.plant.file import demo_plant_path, load_plant
from app.plant.sync import sync_plant
from app.reports import api as reports_api
from app.workspace import pages as workspace_pages

log = logging.getLogger(__name__)
WEB_DIR = Path(__file__).parent.parent / "web"


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
    the_tokens = tokens or resolve_tokens(settings)[0]
    token_store = TokenStore()  # named tokens, loaded from the database in the lifespan

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        factory = make_sessionmaker(engine)
        the_plant = plant or load_plant(settings.plant_file)
        storage = await asyncio.to_thread(schema_guard.require_current, engine)
        await asyncio.to_thread(sync_plant, factory, the_plant)
        log.info("storage mode: %s (%s)", storage.mode.value, storage.reason)
        catalogue = load_catalogue(overrides=settings.factor_file)
        # the packaged demo plant comes with its energy file: its regression baseline
        packaged = (plant is None and settings.plant_file is None) or (
            settings.plant_file is not None and settings.plant_file == demo_plant_path()
        )
        baselines = demo_baselines(the_plant) if packaged else {}
        figures = FigureService(the_plant, catalogue.factors, baselines)

        def refresh_factors(session: Session) -> None:
            operator = factors_api.operator_factors(session)
            replaced = {f.id for f in operator}
            figures.factors = tuple(f for f in catalogue.factors if f.id not in replaced) + tuple(
                operator
            )

        with factory() as session:
            refresh_factors(session)
        hub = LiveHub(factory, figures, interval_s=live_interval_s, clock=clock)
        state = AppState(
            settings=settings,
            engine=engine,
            session_factory=factory,
            plant=the_plant,
            tokens=the_tokens,
            token_store=token_store,
            storage=storage,
            catalogue=catalogue,
            figures=figures,
            hub=hub,
            clock=clock,
            refresh_factors=refresh_factors,
            energy=build_energy_service(settings, the_plant),
        )
        setattr(app.state, ATTRIBUTE, state)
        nudger = asyncio.create_task(listen_for_new_data(settings, hub), name="live-nudges")
        feed = _replica_feed(state)
        syncer = asyncio.create_task(feed.run(), name="change-feed")
        try:
            yield
        finally:
            for task in (nudger, syncer):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            token_store.flush_last_use(factory, force=True)
            await hub.close()
            engine.dispose()

    app = FastAPI(
        title="GreenPulse",
        version="0.1.0",
        summary="Real-time energy and carbon monitor for factories",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
        docs_url=None,  # served by install_offline_docs: no CDN
        redoc_url=None,
    )
    install_offline_docs(app)
    redact.install()
    watch_writes()
    install_input_errors(app)
    install_guard(
        app,
        tokens=the_tokens,
        store=token_store,
        max_body_bytes=settings.max_body_bytes,
        ws_limits=WebsocketLimits(settings.ws_max_total, settings.ws_max_per_token),
    )
    app.include_router(live_api.router)
    app.include_router(plant_api.router)
    app.include_router(factors_api.router)
    app.include_router(instruments_api.router)
    app.include_router(alerts_api.router)
    app.include_router(energy_api.router)
    app.include_router(history_api.router)
    app.include_router(workspace_pages.router)
    app.include_router(reports_api.router)
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")

    registry = CollectorRegistry()
    clients = Gauge("greenpulse_live_clients", "websocket clients connected", registry=registry)
    computations = Gauge(
        "greenpulse_live_computations", "snapshots computed since start", registry=registry
    )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    failing_jobs = Gauge(
        "greenpulse_timescaledb_jobs_failing",
        "TimescaleDB background jobs whose last run failed",
        registry=registry,
    )
    job_failures = Gauge(
        "greenpulse_timescaledb_job_failures",
        "failed runs of each TimescaleDB background job since it was created",
        ["job"],
        registry=registry,
    )

    def check_jobs() -> list[timescale.JobStatus]:
        state = state_of(app)
        with state.engine.connect() as conn:
            statuses = timescale.job_statuses(conn, state.storage)
        failing_jobs.set(sum(s.failing for s in statuses))
        for s in statuses:
            job_failures.labels(job=f"{s.job_id} {s.proc}").set(s.total_failures)
        return statuses

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> dict[str, object]:
        state = state_of(app)
        try:
            with state.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            jobs = timescale.job_health(check_jobs())
        except Exception as exc:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, "database unreachable"
            ) from exc
        # a failing job degrades storage upkeep, not serving: ready, and said so
        ready = "degraded" if jobs["failing"] else "ready"
        return {"status": ready, "storage": state.storage.mode.value, "timescaledb_jobs": jobs}

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> PlainTextResponse:
        hub = state_of(app).hub
        with contextlib.suppress(Exception):  # an unreachable database shows in /readyz
            check_jobs()
        clients.set(hub.client_count())
        computations.set(hub.computations)
        body = b"".join(generate_latest(r) for r in (registry, *extra_metrics))
        return PlainTextResponse(body, media_type=CONTENT_TYPE_LATEST)

    @app.get("/wall/{site_id}", include_in_schema=False)
    def wall(site_id: str) -> FileResponse:
        if site_id not in {s.id for s in state_of(app).plant.sites}:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no site {site_id!r}")
        return FileResponse(WEB_DIR / "wall.html", headers={"Cache-Control": "no-cache"})

    return app


def _replica_feed(state: AppState) -> ChangeFeed:
    """Settings written through another process are used here within a poll interval."""
    factory, store, hub = state.session_factory, state.token_store, state.hub

    def reload_factors() -> None:
        with factory() as session:
            state.refresh_factors(session)

    loop = asyncio.get_running_loop()

    def nudge_all() -> None:  # certificates, offsets, rules: recompute the live figures now
        for site in state.plant.sites:
            hub.nudge(site.id)

    store.load(factory)
    feed = ChangeFeed(state.engine)
    feed.on({"factors"}, reload_factors)
    feed.on({"tokens"}, lambda: store.load(factory))
    feed.on(KINDS, lambda: loop.call_soon_threadsafe(nudge_all))
    feed.on_poll(lambda: store.flush_last_use(factory))
    return feed
