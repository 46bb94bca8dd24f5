"""GreenPulse settings: one pydantic-settings class, environment prefix ``GREENPULSE_``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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
