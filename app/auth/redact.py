"""No secrets in logs: tokens in query strings (and bearer headers) never reach a log line.

Installed as a log-record factory, so it covers every logger of the process —
uvicorn's access log (whose message arguments hold the request path), uvicorn's
error log, websockets, our own — whatever handler later formats the record.
Arguments are redacted one by one rather than rendered into the message, because
uvicorn's access formatter unpacks them.
"""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "[redacted]"
# token=…, access_token=…, in raw or %-encoded query strings; Bearer … anywhere
_QUERY_TOKEN = re.compile(r"(?i)((?:^|[?&;\s\"'])(?:access_)?token(?:=|%3D))[^&\s\"'#;]*")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+")

_installed: list[Any] = []


def redact(text: str) -> str:
    """``text`` with every query-string token and bearer credential replaced."""
    if "oken" not in text and "earer" not in text and "OKEN" not in text:
        return text
    return _BEARER.sub(rf"\1{REDACTED}", _QUERY_TOKEN.sub(rf"\1{REDACTED}", text))


def _clean(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes):
        return redact(value.decode("latin-1")).encode("latin-1")
    return value


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    if isinstance(record.msg, str):
        record.msg = redact(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(_clean(a) for a in record.args)
    elif isinstance(record.args, dict):
        record.args = {k: _clean(v) for k, v in record.args.items()}
    return record


class RedactTokens(logging.Filter):
    """The same redaction as a filter, for handlers configured elsewhere."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def install() -> None:
    """Redact every log record this process creates from now on (idempotent)."""
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(previous(*args, **kwargs))

    _installed.append(factory)
    logging.setLogRecordFactory(factory)
