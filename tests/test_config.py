from __future__ import annotations

import pytest

from app.config import Settings


def test_postgres_urls_use_psycopg3() -> None:
    assert Settings(database_url="postgres://u@h/db").database_url == "postgresql+psycopg://u@h/db"
    assert (
        Settings(database_url="postgresql://u@h/db").database_url == "postgresql+psycopg://u@h/db"
    )
    assert Settings().database_url == "sqlite:///greenpulse.db"


def test_environment_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREENPULSE_MQTT_URL", "mqtts://meter:s3cret@broker.plant:8884")
    monkeypatch.setenv("GREENPULSE_API_TOKEN", "hunter2-write")
    settings = Settings()
    endpoint = settings.mqtt_endpoint()
    assert (endpoint.host, endpoint.port, endpoint.username, endpoint.password, endpoint.tls) == (
        "broker.plant",
        8884,
        "meter",
        "s3cret",
        True,
    )
    assert (
        settings.api_token is not None and settings.api_token.get_secret_value() == "hunter2-write"
    )
    assert "hunter2" not in repr(settings)


def test_bad_mqtt_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="mqtt://"):
        Settings(mqtt_url="http://broker")
