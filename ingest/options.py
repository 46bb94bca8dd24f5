"""Ingest tuning as the loop uses it, built from ``app.config.IngestSettings``."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from app.config import MAX_RECEIVE_MAXIMUM, IngestSettings
from ingest.decode import Limits

_DEFAULTS = IngestSettings.from_mapping({})


@dataclass(frozen=True)
class IngestOptions:
    """Ingest tuning; the fields and defaults are ``IngestSettings``'s (docs/performance.md).

    A plain dataclass so that the demo and the tests can build one with keywords;
    ``from_env`` and ``from_settings`` go through the validated settings.
    """

    batch_readings: int = _DEFAULTS.batch_readings
    batch_ms: float = _DEFAULTS.batch_ms
    max_pending_readings: int = _DEFAULTS.max_pending_readings
    receive_maximum: int = _DEFAULTS.receive_maximum
    session_expiry_s: int = _DEFAULTS.session_expiry_s
    keepalive_s: int = _DEFAULTS.keepalive_s
    mqtt_v5: bool = _DEFAULTS.mqtt_v5
    metrics_port: int | None = _DEFAULTS.metrics_port
    metrics_addr: str = _DEFAULTS.metrics_addr
    summary_interval_s: float = _DEFAULTS.summary_interval_s
    retry_initial_s: float = _DEFAULTS.retry_initial_s
    retry_max_s: float = _DEFAULTS.retry_max_s
    outage_reminder_s: float = _DEFAULTS.outage_reminder_s
    non_transient_attempts: int = _DEFAULTS.non_transient_attempts
    reconnect_initial_s: float = _DEFAULTS.reconnect_initial_s
    reconnect_max_s: float = _DEFAULTS.reconnect_max_s
    drain_timeout_s: float = _DEFAULTS.drain_timeout_s
    journal_file: Path | None = None
    """None: kept in memory only (in-process use: the demo, tests); ``greenpulse ingest``
    gives a process without a configured one ``default_journal``."""
    quarantine_after: int = _DEFAULTS.quarantine_after
    limits: Limits = field(default_factory=Limits)

    @classmethod
    def from_settings(cls, settings: IngestSettings) -> IngestOptions:
        values: dict[str, Any] = settings.model_dump()
        limits = Limits(
            max_payload_bytes=values.pop("max_payload_bytes"),
            max_batch_readings=values.pop("max_batch_readings"),
        )
        return cls(**values, limits=limits)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> IngestOptions:
        """Options from ``GREENPULSE_INGEST_*`` (the process environment when ``env`` is None).

        Raises ``pydantic.ValidationError`` for a bad value (``"20000.7"`` for an integer).
        """
        settings = IngestSettings() if env is None else IngestSettings.from_mapping(env)
        return cls.from_settings(settings)

    def __post_init__(self) -> None:
        if not 1 <= self.receive_maximum <= MAX_RECEIVE_MAXIMUM:
            raise ValueError(f"receive_maximum must be 1..{MAX_RECEIVE_MAXIMUM}")
        if self.batch_readings < 1 or self.max_pending_readings < self.batch_readings:
            raise ValueError("need 1 <= batch_readings <= max_pending_readings")

    @property
    def max_future(self) -> timedelta:
        return self.limits.max_future


def default_journal(client_id: str) -> Path:
    """Where the in-flight journal lives when ``GREENPULSE_INGEST_JOURNAL_FILE`` is unset:
    one per client id (one per MQTT session), in the temporary directory."""
    user = os.environ.get("USER") or str(os.getuid())
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in client_id)
    return Path(tempfile.gettempdir()) / f"greenpulse-ingest-{user}" / f"{safe}.json"
