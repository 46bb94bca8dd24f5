"""The retained MQTT alert state: ``{prefix}/{site}/alerts`` holds the site's open alerts.

Retained with QoS 1, so a screen or a building-management system that subscribes late
(or reconnects) gets the current state at once. Only the newest payload per site is
kept (memory is bounded by the number of sites); it is republished after every
reconnect, because a broker without persistence forgets retained messages.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

import aiomqtt

from app.alerts.models import AlertRow
from app.alerts.schemas import alert_json, iso
from app.config import Settings
from app.mqtt import alerts_topic, client_kwargs

log = logging.getLogger(__name__)

MAX_ALERTS_PER_PAYLOAD: Final = 200
"""Newest first; a broker's message size limit must never be what drops the state."""

MAX_BACKOFF_S: Final = 30.0


def site_payload(site_id: str, rows: Iterable[AlertRow]) -> dict[str, Any]:
    """The site's open and acknowledged alerts as published (without ``generated_at``)."""
    alerts = [alert_json(r) for r in rows]
    return {
        "site": site_id,
        "count": len(alerts),
        "alerts": alerts[:MAX_ALERTS_PER_PAYLOAD],
        "truncated": len(alerts) > MAX_ALERTS_PER_PAYLOAD,
    }


class AlertPublisher:
    """Holds the newest payload per site and publishes the changed ones."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()  # payloads are set from the evaluation thread
        self._fingerprints: dict[str, str] = {}
        self._latest: dict[str, bytes] = {}
        self._dirty: set[str] = set()
        self._wake: asyncio.Event | None = None
        self.published = 0

    def update(self, payloads: Mapping[str, dict[str, Any]], now: datetime) -> set[str]:
        """Record each site's current payload; returns the sites whose state changed."""
        changed: set[str] = set()
        with self._lock:
            for site_id, payload in payloads.items():
                fingerprint = json.dumps(payload, sort_keys=True)
                if self._fingerprints.get(site_id) == fingerprint:
                    continue
                self._fingerprints[site_id] = fingerprint
                body = {**payload, "generated_at": iso(now)}
                self._latest[site_id] = json.dumps(body, separators=(",", ":")).encode()
                self._dirty.add(site_id)
                changed.add(site_id)
        return changed

    def latest(self, site_id: str) -> dict[str, Any] | None:
        with self._lock:
            body = self._latest.get(site_id)
        return None if body is None else dict(json.loads(body))

    def wake(self) -> None:
        """Publish now (call from the event loop)."""
        if self._wake is not None:
            self._wake.set()

    def _take_dirty(self) -> list[tuple[str, bytes]]:
        with self._lock:
            taken = [(s, self._latest[s]) for s in sorted(self._dirty)]
            self._dirty.clear()
        return taken

    def _mark_all_dirty(self) -> None:
        with self._lock:
            self._dirty = set(self._latest)

    def _mark_dirty(self, site_ids: Iterable[str]) -> None:
        with self._lock:
            self._dirty.update(site_ids)

    async def run(self, stop: asyncio.Event, *, idle_s: float) -> None:
        """Connect, publish what changed, reconnect with backoff; until ``stop``."""
        self._wake = asyncio.Event()
        prefix = self._settings.mqtt_topic_prefix
        backoff = 1.0
        identifier = f"greenpulse-alerts-{uuid.uuid4().hex[:8]}"
        while not stop.is_set():
            try:
                async with aiomqtt.Client(
                    **client_kwargs(self._settings), identifier=identifier
                ) as client:
                    backoff = 1.0
                    self._mark_all_dirty()  # the broker may have restarted without them
                    while not stop.is_set():
                        self._wake.clear()
                        pending = self._take_dirty()
                        for index, (site_id, body) in enumerate(pending):
                            try:
                                await client.publish(
                                    alerts_topic(prefix, site_id), body, qos=1, retain=True
                                )
                            except aiomqtt.MqttError:
                                self._mark_dirty(s for s, _ in pending[index:])
                                raise
                            self.published += 1
                        await _first_of(stop, self._wake, within_s=idle_s)
            except aiomqtt.MqttError as exc:
                log.warning(
                    "alert MQTT publishing unavailable (%s); retrying in %.0f s", exc, backoff
                )
                await _first_of(stop, within_s=backoff)
                backoff = min(MAX_BACKOFF_S, backoff * 2)


async def _first_of(*events: asyncio.Event, within_s: float) -> None:
    """Wait until any of the events is set, or ``within_s`` seconds."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=within_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
