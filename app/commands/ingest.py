"""``greenpulse ingest`` (and ``python -m ingest``): the MQTT ingester until a signal."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from app.commands.runtime import (
    configure_logging,
    open_database,
    run_until_signal,
    wait_for_storage,
)
from app.config import Settings
from app.plant.file import load_plant

log = logging.getLogger(__name__)


async def run_ingest(settings: Settings, stop: asyncio.Event) -> None:
    """Ingest until ``stop`` is set; the schema must exist (``greenpulse migrate``).

    A database that is down at start is waited for.
    """
    from ingest.options import default_journal
    from ingest.service import Ingester, IngestOptions
    from ingest.writer import BatchWriter

    options = IngestOptions.from_env()
    if options.journal_file is None:  # a process keeps its in-flight journal on disk
        options = dataclasses.replace(
            options, journal_file=default_journal(settings.mqtt_client_id)
        )

    plant = load_plant(settings.plant_file)
    with open_database(settings) as db:
        storage = await wait_for_storage(db, stop)
        if storage is None:
            return
        log.info("ingest: storage mode %s (%s)", storage.mode.value, storage.reason)
        writer = BatchWriter(db.sessions, plant, storage)
        await Ingester(settings, plant, writer, options).run(stop)


def main() -> None:
    """``python -m ingest``: everything from ``GREENPULSE_*`` environment variables."""
    settings = Settings()
    configure_logging(settings)
    run_until_signal(lambda stop: run_ingest(settings, stop))
