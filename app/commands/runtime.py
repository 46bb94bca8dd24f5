"""What every process shares: its settings and logging, its database, running until a signal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.engine import make_engine, make_sessionmaker
from app.db.timescale import StorageInfo, detect_storage

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET_LIBRARIES = ("amqtt", "transitions", "alembic")


def load_settings(database_url: str | None = None, plant_file: Path | None = None) -> Settings:
    """The settings from the environment, with the command line's overrides."""
    overrides: dict[str, object] = {}
    if database_url:
        overrides["database_url"] = database_url
    if plant_file:
        overrides["plant_file"] = plant_file
    return Settings(**overrides)  # type: ignore[arg-type]


def require_schema(settings: Settings) -> None:
    """Refuse, in one line, to run against a schema older or newer than this code's."""
    logging.getLogger("alembic").setLevel(logging.WARNING)  # these commands never migrate
    from app.db import schema_guard

    engine = make_engine(settings.database_url)
    try:
        schema_guard.require_current(engine)
    except schema_guard.SchemaMismatchError as exc:
        print(f"greenpulse: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    finally:
        engine.dispose()


def configure_logging(settings: Settings, *, quiet_libraries: bool = False) -> None:
    """One log format for every process, at ``GREENPULSE_LOG_LEVEL``."""
    logging.basicConfig(level=settings.log_level.upper(), format=LOG_FORMAT)
    if quiet_libraries:
        for name in QUIET_LIBRARIES:
            logging.getLogger(name).setLevel(logging.WARNING)


@dataclass(frozen=True, slots=True)
class Database:
    engine: Engine
    sessions: sessionmaker[Session]

    def storage(self) -> StorageInfo:
        """Which storage mode the database offers (a query: raises while it is down)."""
        with self.engine.connect() as conn:
            return detect_storage(conn)


@contextlib.contextmanager
def open_database(settings: Settings) -> Iterator[Database]:
    """The engine and session factory for ``GREENPULSE_DATABASE_URL``, disposed at the end."""
    engine = make_engine(settings.database_url)
    try:
        yield Database(engine, make_sessionmaker(engine))
    finally:
        engine.dispose()


async def wait_for_storage(db: Database, stop: asyncio.Event) -> StorageInfo | None:
    """The storage mode, waiting (with backoff) while the database is unreachable.

    ``None`` when asked to stop before the database answered.
    """
    delay = 0.5
    while not stop.is_set():
        try:
            return await asyncio.to_thread(db.storage)
        except Exception as exc:
            log.warning("database not reachable (%s); retrying in %.0f s", _short(exc), delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 30.0)
    return None


def stop_on_signals(stop: asyncio.Event) -> None:
    """SIGINT and SIGTERM set ``stop`` (call inside the running loop)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


def run_until_signal(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(stop)`` in a fresh event loop; SIGINT or SIGTERM sets ``stop``."""

    async def run() -> None:
        stop = asyncio.Event()
        stop_on_signals(stop)
        await main(stop)

    asyncio.run(run())


def _short(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:300]
