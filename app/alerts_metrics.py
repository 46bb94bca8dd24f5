"""The alert engine's counters as Prometheus metrics (the demo's ``/metrics`` shows them).

The engine counts in a plain ``collections.Counter`` (evaluations, errors, webhooks);
this collector exposes every key of it as ``greenpulse_alerts_<key>_total``, read at
scrape time, plus the number of conditions it watches.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.alerts_engine import AlertEngine

KNOWN_COUNTS = ("evaluations", "evaluation_errors", "webhooks_delivered", "webhooks_failed")


class AlertEngineCollector(Collector):
    """Reads the engine's counts on every scrape; nothing is copied in between."""

    def __init__(self, engine: AlertEngine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        counts = self._engine.metrics
        for key in sorted(set(KNOWN_COUNTS) | set(counts)):
            family = CounterMetricFamily(
                f"greenpulse_alerts_{key}", f"alert engine: {key.replace('_', ' ')}"
            )
            family.add_metric([], float(counts.get(key, 0)))
            yield family
        transitions = GaugeMetricFamily(
            "greenpulse_alerts_recent_transitions",
            "alert transitions kept in memory (opened, updated, resolved)",
        )
        transitions.add_metric([], float(len(self._engine.transitions)))
        yield transitions


def alert_engine_registry(engine: AlertEngine) -> CollectorRegistry:
    """A registry holding only the engine's metrics, to serve beside the API's."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(AlertEngineCollector(engine))
    return registry
