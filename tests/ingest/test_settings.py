"""Ingest tuning: validated settings, and the docs table that lists them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import IngestSettings
from ingest.options import IngestOptions

DOC = Path(__file__).resolve().parents[2] / "docs" / "performance.md"


def _default(value: object) -> str:
    if value is None:
        return "off"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def settings_table() -> str:
    """The "Tuning" table as the settings define it."""
    lines = ["| variable | default | what |", "|---|---|---|"]
    for name, info in IngestSettings.model_fields.items():
        lines.append(f"| `{name.upper()}` | {_default(info.default)} | {info.description} |")
    return "\n".join(lines)


def test_the_docs_table_is_the_settings() -> None:
    text = DOC.read_text()
    match = re.search(r"\| variable \| default \| what \|\n(?:\|.*\|\n)+", text)
    assert match, "no settings table in docs/performance.md"
    assert match.group(0).strip() == settings_table(), (
        "docs/performance.md drifted from IngestSettings; the table should read:\n"
        + settings_table()
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("BATCH_READINGS", "20000.7", "valid integer"),
        ("BATCH_READINGS", "0", "greater than or equal to 1"),
        ("RECEIVE_MAXIMUM", "70000", "less than or equal to 65535"),
        ("MQTT_V5", "maybe", "valid boolean"),
        ("METRICS_PORT", "http", "valid integer"),
        ("BATCH_MS", "-1", "greater than 0"),
        ("MAX_PENDING_READINGS", "10", "batch_readings <= max_pending_readings"),
        ("MAX_BATCH_READINGS", "10000", "cannot be reached within max_payload_bytes"),
    ],
)
def test_a_bad_value_is_a_clear_error(variable: str, value: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        IngestSettings.from_mapping({f"GREENPULSE_INGEST_{variable}": value})


def test_values_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREENPULSE_INGEST_BATCH_READINGS", "500")
    monkeypatch.setenv("GREENPULSE_INGEST_METRICS_PORT", "")
    monkeypatch.setenv("GREENPULSE_INGEST_MAX_BATCH_READINGS", "1000")
    options = IngestOptions.from_env()
    assert options.batch_readings == 500
    assert options.metrics_port is None
    assert options.limits.max_batch_readings == 1000
    assert options.journal_file is None  # greenpulse ingest gives a process its default


def test_options_defaults_are_the_settings_defaults() -> None:
    options = IngestOptions()
    settings = IngestSettings.from_mapping({})
    for name in IngestSettings.model_fields:
        if name in {"max_payload_bytes", "max_batch_readings"}:
            assert getattr(options.limits, name) == getattr(settings, name)
        elif name != "journal_file":
            assert getattr(options, name) == getattr(settings, name), name
