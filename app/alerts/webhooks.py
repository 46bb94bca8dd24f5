"""Webhook delivery from the outbox: signed POSTs, bounded retries, bounded concurrency.

Each alert transition leaves one ``alert_deliveries`` row per URL in the same
transaction (``app.alerts.store.enqueue``); ``WebhookSender.deliver_due`` takes the
due rows, POSTs them and records the outcome. The body is stored, so every attempt
sends (and signs) exactly the same bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker

from app.alerts import outbox
from app.alerts.outbox import ClaimedDelivery
from app.db.engine import transaction

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-GreenPulse-Signature"
DELIVERY_HEADER = "X-GreenPulse-Delivery"
EVENT_HEADER = "X-GreenPulse-Event"


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """Where transitions are POSTed and how hard to try.

    With the defaults a delivery is tried 8 times, 5 s, 10 s, … 320 s apart: about
    10.5 minutes in all, enough to ride out a receiver restart, short enough that a
    page is not hours late.
    """

    urls: tuple[str, ...] = ()
    secret: str | None = None
    max_attempts: int = 8
    first_retry_s: float = 5.0
    max_retry_s: float = 600.0
    timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    max_concurrency: int = 4
    batch_size: int = 50

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.max_concurrency < 1 or self.batch_size < 1:
            raise ValueError("max_attempts, max_concurrency and batch_size must be >= 1")

    def retry_delay_s(self, attempt: int) -> float:
        """Wait after failed attempt number ``attempt`` (1-based): exponential, capped."""
        return float(min(self.max_retry_s, self.first_retry_s * 2 ** (attempt - 1)))

    @property
    def lease_s(self) -> float:
        """How long a taken delivery is reserved: longer than any single request can take."""
        return self.timeout_s * 3 + 30.0


def webhook_config(settings: Any) -> WebhookConfig:
    """``GREENPULSE_WEBHOOK_URLS`` (comma-separated) and ``GREENPULSE_WEBHOOK_SECRET``.

    Read leniently (a list or a comma-separated string; a SecretStr or a plain string),
    so the settings class may declare them either way.
    """
    raw_urls = getattr(settings, "webhook_urls", None) or ()
    if isinstance(raw_urls, str):
        raw_urls = raw_urls.split(",")
    urls = tuple(u.strip() for u in raw_urls if isinstance(u, str) and u.strip())
    raw_secret = getattr(settings, "webhook_secret", None)
    if raw_secret is not None and hasattr(raw_secret, "get_secret_value"):
        raw_secret = raw_secret.get_secret_value()
    secret = raw_secret if isinstance(raw_secret, str) and raw_secret else None
    return WebhookConfig(urls=urls, secret=secret)


def sign(body: bytes, secret: str) -> str:
    """The signature header's value: ``sha256=<hex HMAC-SHA256 of the raw body>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    delivery: ClaimedDelivery
    error: str | None
    """None when the receiver answered 2xx."""


class WebhookSender:
    """Delivers due outbox rows; share one per engine (it holds the HTTP connection pool)."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        config: WebhookConfig,
        *,
        user_agent: str = "GreenPulse-Alerts/0.1",
        on_outcome: Callable[[DeliveryOutcome], None] | None = None,
    ) -> None:
        self._factory = factory
        self.config = config
        self._user_agent = user_agent
        self._on_outcome = on_outcome
        self._client: httpx.AsyncClient | None = None
        if config.urls and config.secret is None:
            log.warning("webhooks are configured without GREENPULSE_WEBHOOK_SECRET: unsigned")

    def _new_client(self) -> httpx.AsyncClient:
        timeout = httpx.Timeout(self.config.timeout_s, connect=self.config.connect_timeout_s)
        limits = httpx.Limits(max_connections=self.config.max_concurrency)
        return httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def deliver_due(self, now: datetime) -> list[DeliveryOutcome]:
        """One round: take up to ``batch_size`` due deliveries and try each once."""
        claimed = await asyncio.to_thread(self._claim, now)
        if not claimed:
            return []
        if self._client is None:
            self._client = self._new_client()
        client = self._client
        gate = asyncio.Semaphore(self.config.max_concurrency)

        async def attempt(delivery: ClaimedDelivery) -> DeliveryOutcome:
            async with gate:
                return DeliveryOutcome(delivery, await self._post(client, delivery))

        outcomes = await asyncio.gather(*(attempt(d) for d in claimed))
        await asyncio.to_thread(self._record, outcomes, now)
        if self._on_outcome is not None:
            for outcome in outcomes:
                self._on_outcome(outcome)
        return list(outcomes)

    def _claim(self, now: datetime) -> list[ClaimedDelivery]:
        with transaction(self._factory) as session:
            return outbox.claim_deliveries(
                session, now=now, limit=self.config.batch_size, lease_s=self.config.lease_s
            )

    async def _post(self, client: httpx.AsyncClient, delivery: ClaimedDelivery) -> str | None:
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": self._user_agent,
            DELIVERY_HEADER: delivery.delivery_id,
            EVENT_HEADER: delivery.event,
        }
        if self.config.secret is not None:
            headers[SIGNATURE_HEADER] = sign(body, self.config.secret)
        try:
            response = await client.post(delivery.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}: {response.text[:200]}"

    def _record(self, outcomes: Sequence[DeliveryOutcome], now: datetime) -> None:
        with transaction(self._factory) as session:
            for outcome in outcomes:
                delivery = outcome.delivery
                next_at: datetime | None = None
                if outcome.error is not None:
                    if delivery.attempt < self.config.max_attempts:
                        delay = self.config.retry_delay_s(delivery.attempt)
                        next_at = now + timedelta(seconds=delay)
                        log.info(
                            "webhook %s to %s failed (attempt %s): %s; retrying in %.0f s",
                            delivery.delivery_id,
                            delivery.url,
                            delivery.attempt,
                            outcome.error,
                            delay,
                        )
                    else:
                        log.warning(
                            "webhook %s to %s given up after %s attempts: %s",
                            delivery.delivery_id,
                            delivery.url,
                            delivery.attempt,
                            outcome.error,
                        )
                outbox.record_delivery(
                    session, delivery, now=now, error=outcome.error, next_attempt_at=next_at
                )
