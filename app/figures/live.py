"""The live bus inside an API process: one snapshot computation per scope, fanned out.

Each subscribed scope (a site, or an area) is recomputed from the database once a
second (sooner when the ingester announces new data), whatever the number of clients.
Every client has a one-slot mailbox: a slow client only ever holds the newest
snapshot (coalescing); the websocket route drops a client that cannot take one frame
within its send timeout (``app.figures.api.SEND_TIMEOUT_S``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import aiomqtt
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.figures.service import FigureService, Scope
from app.mqtt import client_kwargs

log = logging.getLogger(__name__)

Snapshot = dict[str, Any]
MAX_RATE = 4.0


def encode(snapshot: Snapshot) -> str:
    """JSON text of a snapshot, encoded once and sent to every client as is."""
    return json.dumps(snapshot, separators=(",", ":"))


class Mailbox:
    """Holds at most one pending snapshot (as JSON text); a newer one replaces it."""

    def __init__(self) -> None:
        self._item: str | None = None
        self._ready = asyncio.Event()
        self.coalesced = 0

    def put(self, snapshot: str) -> None:
        if self._item is not None:
            self.coalesced += 1
        self._item = snapshot
        self._ready.set()

    async def get(self) -> str:
        await self._ready.wait()
        self._ready.clear()
        item, self._item = self._item, None
        assert item is not None
        return item


class _Feed:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.mailboxes: set[Mailbox] = set()
        self.latest: str | None = None
        self.nudge = asyncio.Event()
        self.task: asyncio.Task[None] | None = None


def clock_json(clock: Callable[[], datetime]) -> dict[str, Any]:
    """How the time in a snapshot runs: the wall clock, or simulated ``speed`` times faster."""
    speed = getattr(clock, "speed", None)
    if isinstance(speed, int | float) and not isinstance(speed, bool):
        return {"simulated": True, "speed": float(speed)}
    return {"simulated": False, "speed": 1.0}


class LiveHub:
    """Computes snapshots per scope and hands them to every subscriber of that scope."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        figures: FigureService,
        *,
        interval_s: float = 1.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._factory = factory
        self._figures = figures
        self._interval_s = interval_s
        self._clock = clock
        self._feeds: dict[str, _Feed] = {}
        self.computations = 0

    def compute(self, scope: Scope) -> Snapshot:
        """One snapshot, synchronously (REST uses this too, so both always agree)."""
        with self._factory() as session:
            snapshot = self._figures.snapshot(session, scope, self._clock())
        snapshot["clock"] = clock_json(self._clock)
        return snapshot

    @contextlib.asynccontextmanager
    async def subscribe(self, scope: Scope) -> AsyncIterator[Mailbox]:
        feed = self._feeds.get(scope.key)
        if feed is None:
            feed = self._feeds[scope.key] = _Feed(scope)
            feed.task = asyncio.create_task(self._run(feed), name=f"live:{scope.key}")
        mailbox = Mailbox()
        feed.mailboxes.add(mailbox)
        if feed.latest is not None:
            mailbox.put(feed.latest)
        else:
            feed.nudge.set()
        try:
            yield mailbox
        finally:
            feed.mailboxes.discard(mailbox)
            if not feed.mailboxes and feed.task is not None:
                feed.task.cancel()
                self._feeds.pop(scope.key, None)

    def nudge(self, site_id: str) -> None:
        """New data for a site arrived: recompute its feeds now rather than at the next tick."""
        for feed in self._feeds.values():
            if feed.scope.site.id == site_id:
                feed.nudge.set()

    def client_count(self) -> int:
        return sum(len(f.mailboxes) for f in self._feeds.values())

    async def _run(self, feed: _Feed) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            feed.nudge.clear()
            try:
                snapshot = await asyncio.to_thread(self.compute, feed.scope)
            except Exception:
                log.exception("live figures for %s failed; retrying", feed.scope.key)
                await asyncio.sleep(self._interval_s)
                continue
            self.computations += 1
            text = feed.latest = encode(snapshot)
            for mailbox in list(feed.mailboxes):
                mailbox.put(text)
            # the next tick is one interval after this one started, or sooner when nudged
            remaining = self._interval_s - (loop.time() - started)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(feed.nudge.wait(), max(remaining, 0.0))
            # however often nudged, at most MAX_RATE computations a second per scope
            await asyncio.sleep(max(0.0, 1 / MAX_RATE - (loop.time() - started)))

    async def close(self) -> None:
        tasks = [f.task for f in self._feeds.values() if f.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._feeds.clear()


NUDGE_RETRY_S = 5.0


async def listen_for_new_data(settings: Settings, hub: LiveHub) -> None:
    """Recompute a site's figures as soon as the ingester says it committed new data.

    Optional: without a broker the figures still refresh every second, so a failure is
    a warning and the subscription is retried.
    """
    topic = f"{settings.mqtt_topic_prefix}/+/live"
    while True:
        try:
            async with aiomqtt.Client(**client_kwargs(settings)) as client:
                await client.subscribe(topic, qos=0)
                async for message in client.messages:
                    hub.nudge(str(message.topic).split("/")[1])
        except aiomqtt.MqttError as exc:
            log.warning(
                "new-data notices from %s unavailable (%s); figures refresh on their own "
                "timer; retrying in %.0f s",
                topic,
                exc,
                NUDGE_RETRY_S,
            )
        except Exception:  # a bug: say so loudly, keep the API serving
            log.exception("new-data listener on %s failed; retrying", topic)
        await asyncio.sleep(NUDGE_RETRY_S)
