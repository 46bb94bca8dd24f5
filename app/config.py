"""GreenPulse settings: one pydantic-settings class, environment prefix ``GREENPULSE_``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEFAULT_DATABASE_URL = "sqlite:///greenpulse.db"


@dataclass(frozen=True)
class MqttEndpoint:
    """Where the broker is and how to log in, parsed from ``mqtt_url`` and friends."""

    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool


class Settings(BaseSettings):
    """Every knob GreenPulse reads from the environment (or a ``.env`` file)."""

    model_config = SettingsConfigDict(env_prefix="GREENPULSE_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL; sqlite:///file.db, postgresql://… (psycopg 3 is used)",
    )
    mqtt_url: str = Field(
        default="mqtt://127.0.0.1:1883", description="broker URL; mqtts:// turns TLS on"
    )
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_tls_ca_file: Path | None = Field(
        default=None, description="CA bundle for the broker's certificate (TLS)"
    )
    mqtt_topic_prefix: str = Field(default="greenpulse", description="first level of every topic")
    mqtt_client_id: str = Field(
        default="greenpulse-ingest", description="ingester client id (persistent session key)"
    )
    sparkplug_host_id: str = Field(
        default="greenpulse",
        min_length=1,
        max_length=255,
        pattern=r"^[^/+#]+$",
        description="Sparkplug B primary host id: the ingester's STATE topic is "
        "spBv1.0/STATE/{id}; edge nodes configured with it wait for GreenPulse to be online",
    )
    mqtt_share_group: str | None = Field(
        default=None,
        description="shared-subscription group; set it when several ingesters run at once",
    )
    plant_file: Path | None = Field(
        default=None, description="plant YAML; the packaged demo plant when unset"
    )
    factor_file: Path | None = Field(
        default=None, description="operator emission-factor overrides (YAML)"
    )
    energy_file: Path | None = Field(
        default=None,
        description="site energy file (baseline, tariffs, scorecard, targets); when unset, "
        "<plant>.energy.yaml beside the plant file if it exists, else the packaged demo's",
    )
    api_token: SecretStr | None = Field(
        default=None, description="bearer token for write and admin routes"
    )
    read_token: SecretStr | None = Field(
        default=None, description="read-only token for wall screens and dashboards"
    )
    webhook_urls: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="alert webhooks, comma-separated"
    )
    webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 key for the X-GreenPulse-Signature header"
    )
    max_body_bytes: int = Field(
        default=1_000_000, ge=1, description="larger request bodies answer 413 unread"
    )
    ws_max_total: int = Field(default=500, ge=1, description="live websockets per process")
    ws_max_per_token: int = Field(default=20, ge=1, description="live websockets per token")
    host: str = Field(default="127.0.0.1", description="API listen address")
    port: int = Field(default=8000, description="API listen port")
    log_level: str = "INFO"

    @field_validator("database_url")
    @classmethod
    def _use_psycopg3(cls, url: str) -> str:
        """Accept the usual spellings and always drive PostgreSQL with psycopg 3."""
        for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @field_validator("webhook_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(u.strip() for u in value.split(",") if u.strip())
        return value

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_scheme(cls, url: str) -> str:
        scheme = urlsplit(url).scheme
        if scheme not in {"mqtt", "mqtts", "tcp", "ssl"}:
            raise ValueError(f"mqtt_url must start with mqtt:// or mqtts://, got {url!r}")
        return url

    def mqtt_endpoint(self) -> MqttEndpoint:
        """Broker address and credentials; explicit username/password win over the URL's."""
        parts = urlsplit(self.mqtt_url)
        tls = parts.scheme in {"mqtts", "ssl"}
        password = self.mqtt_password.get_secret_value() if self.mqtt_password else None
        return MqttEndpoint(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (8883 if tls else 1883),
            username=self.mqtt_username or (unquote(parts.username) if parts.username else None),
            password=password or (unquote(parts.password) if parts.password else None),
            tls=tls,
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once per process (tests build their own ``Settings``)."""
    return Settings()


INGEST_ENV_PREFIX = "GREENPULSE_INGEST_"
MAX_RECEIVE_MAXIMUM = 65_535  # MQTT v5: a two-byte integer
MIN_BATCH_ENTRY_BYTES = 80
"""The smallest realistic gateway-batch entry (meter id, ISO time, value, unit): what the
payload limit must leave room for, ``max_batch_readings`` times over."""


class IngestSettings(BaseSettings):
    """Ingest tuning, ``GREENPULSE_INGEST_<FIELD>`` (docs/performance.md, "Tuning").

    Validated like every setting: a value of the wrong type (``"20000.7"`` for an
    integer) or out of range is an error at start, never truncated.
    """

    model_config = SettingsConfigDict(
        env_prefix=INGEST_ENV_PREFIX, env_file=".env", extra="ignore", frozen=True
    )

    batch_readings: int = Field(
        default=20_000,
        ge=1,
        description="write a batch once this many readings (and rejections) are waiting…",
    )
    batch_ms: float = Field(
        default=50.0,
        gt=0,
        description="…or once the oldest waiting message is this old (latency floor at low rates)",
    )
    max_pending_readings: int = Field(
        default=60_000,
        ge=1,
        description="stop taking messages above this many uncommitted readings (backpressure; "
        "memory bound). Two batches commit at once when a third can fill: keep it ≥ 3 × "
        "`BATCH_READINGS`",
    )
    receive_maximum: int = Field(
        default=20_000,
        ge=1,
        le=MAX_RECEIVE_MAXIMUM,
        description="MQTT v5 Receive Maximum: unacknowledged messages the broker may send. "
        "Memory: this × the mean payload, plus decoded readings up to `MAX_PENDING_READINGS`",
    )
    session_expiry_s: int = Field(
        default=7 * 24 * 3600,
        ge=0,
        description="how long the broker keeps the session while the ingester is away",
    )
    keepalive_s: int = Field(default=30, ge=1, description="MQTT keepalive")
    mqtt_v5: bool = Field(
        default=True,
        description="false: MQTT 3.1.1 (`clean_session` false) for brokers without v5",
    )
    metrics_port: int | None = Field(
        default=None, ge=1, le=65_535, description="Prometheus `/metrics` port (off when unset)"
    )
    metrics_addr: str = Field(default="0.0.0.0", description="Prometheus `/metrics` address")
    summary_interval_s: float = Field(default=30.0, gt=0, description="the one-line log summary")
    retry_initial_s: float = Field(
        default=0.2, gt=0, description="first pause before a failed batch is written again"
    )
    retry_max_s: float = Field(default=5.0, gt=0, description="longest pause between retries")
    outage_reminder_s: float = Field(
        default=60.0, gt=0, description="how often a database outage is logged again"
    )
    non_transient_attempts: int = Field(
        default=3,
        ge=1,
        description="attempts before a batch the database refuses (not an outage) is written "
        "message by message, and before one message it refuses becomes a `write_failed` "
        "dead letter",
    )
    reconnect_initial_s: float = Field(
        default=0.5, gt=0, description="first broker reconnect pause"
    )
    reconnect_max_s: float = Field(default=30.0, gt=0, description="longest broker reconnect pause")
    drain_timeout_s: float = Field(
        default=10.0, ge=0, description="on stop, how long to keep committing what was received"
    )
    max_payload_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        description="larger payloads are dead-lettered as `payload_too_large`",
    )
    max_batch_readings: int = Field(
        default=2_000,
        ge=1,
        description="larger gateway batches are dead-lettered as `batch_too_large`; must fit "
        "in `MAX_PAYLOAD_BYTES` at 80 bytes an entry",
    )
    journal_file: Path | None = Field(
        default=None,
        description="where the messages in flight are noted, so that one which keeps killing "
        "the process is quarantined (unset: `greenpulse-ingest-$USER/{client id}.json` in the "
        "temporary directory)",
    )
    quarantine_after: int = Field(
        default=3,
        ge=2,
        description="deaths of the process with a message in flight before it is quarantined "
        "(after one it is written among suspects only, after one less than this alone)",
    )

    @field_validator("metrics_port", "journal_file", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _limits_agree(self) -> IngestSettings:
        if self.max_pending_readings < self.batch_readings:
            raise ValueError("need batch_readings <= max_pending_readings")
        if self.max_batch_readings * MIN_BATCH_ENTRY_BYTES > self.max_payload_bytes:
            raise ValueError(
                f"max_batch_readings {self.max_batch_readings} cannot be reached within "
                f"max_payload_bytes {self.max_payload_bytes} ({MIN_BATCH_ENTRY_BYTES} bytes "
                "an entry at least)"
            )
        return self

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> IngestSettings:
        """Settings from ``GREENPULSE_INGEST_*`` keys of ``env`` only (not the process's)."""
        values: dict[str, Any] = {
            key[len(INGEST_ENV_PREFIX) :].lower(): value
            for key, value in env.items()
            if key.startswith(INGEST_ENV_PREFIX)
        }
        return _IngestSettingsFromMapping.model_validate(values)


class _IngestSettingsFromMapping(IngestSettings):
    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)
