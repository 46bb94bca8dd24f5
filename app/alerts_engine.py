"""The alert engine's entry point (``greenpulse demo`` and ``serve`` import it from here).

The implementation lives in the ``app.alerting`` package: rules, detector state,
baselines, MQTT publishing and webhook delivery.
"""

from __future__ import annotations

from app.alerting.engine import AlertEngine, AlertTransition
from app.alerting.webhooks import WebhookConfig

__all__ = ["AlertEngine", "AlertTransition", "WebhookConfig"]
