"""Shared MQTT conventions: topic scheme and client construction."""

from __future__ import annotations

import ssl
from typing import Any

from app.config import Settings

# greenpulse/{site}/{meter}/reading          one reading
# greenpulse/{site}/gateway/{gateway}/batch  many readings, one or many meters
# greenpulse/{site}/alerts                   retained current alert state (published by GreenPulse)
# greenpulse/{site}/live                     "figures changed" notice from the ingester to the API
READING_SUFFIX = "reading"
BATCH_SUFFIX = "batch"


def reading_topic(prefix: str, site_id: str, meter_id: str) -> str:
    return f"{prefix}/{site_id}/{meter_id}/{READING_SUFFIX}"


def batch_topic(prefix: str, site_id: str, gateway_id: str) -> str:
    return f"{prefix}/{site_id}/gateway/{gateway_id}/{BATCH_SUFFIX}"


def alerts_topic(prefix: str, site_id: str) -> str:
    return f"{prefix}/{site_id}/alerts"


def live_topic(prefix: str, site_id: str) -> str:
    return f"{prefix}/{site_id}/live"


def client_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``aiomqtt.Client`` from the settings (host, auth, TLS)."""
    endpoint = settings.mqtt_endpoint()
    kwargs: dict[str, Any] = {
        "hostname": endpoint.host,
        "port": endpoint.port,
        "username": endpoint.username,
        "password": endpoint.password,
    }
    if endpoint.tls:
        context = ssl.create_default_context(
            cafile=str(settings.mqtt_tls_ca_file) if settings.mqtt_tls_ca_file else None
        )
        kwargs["tls_context"] = context
    return kwargs
