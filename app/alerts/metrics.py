"""The alert engine's counters, as Prometheus sees them.

The engine counts in a ``collections.Counter`` (cheap, and what tests read); this
collector turns it into ``greenpulse_alert_engine_events_total{event=…}`` at each
scrape, so the counting code never touches Prometheus.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

EVENTS_METRIC = "greenpulse_alert_engine_events"


class EngineCounters(Collector):
    def __init__(self, counts: Counter[str]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            EVENTS_METRIC,
            "alert engine events since start: evaluations, transitions, refusals, errors, "
            "webhook outcomes",
            labels=["event"],
        )
        for event, count in sorted(self._counts.items()):
            family.add_metric([event], count)
        yield family


def engine_registry(counts: Counter[str]) -> CollectorRegistry:
    """A registry of its own per engine, so several engines can run in one process."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(EngineCounters(counts))
    return registry
