"""Ingest observability: Prometheus metrics, the periodic summary line, rate-limited warnings.

Each ``Ingester`` owns a ``CollectorRegistry``, so several can run in one
process (tests) without clashing on metric names.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from ingest.decode import Rejection
from ingest.decode import reasons as json_reasons
from ingest.sparkplug import reasons as sparkplug_reasons

log = logging.getLogger(__name__)


def reasons() -> list[str]:
    """Every dead-letter reason code: the decoder's and the Sparkplug host's."""
    return [*json_reasons(), *sparkplug_reasons()]


BATCH_SIZE_BUCKETS: Final = (1, 10, 50, 100, 500, 1000, 2500, 5000, 10_000, 25_000, 50_000)
LATENCY_BUCKETS: Final = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class IngestMetrics:
    """The ingester's counters and gauges, in a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.messages = Counter(
            "greenpulse_ingest_messages_received", "MQTT messages received", registry=r
        )
        self.readings = Counter(
            "greenpulse_ingest_readings_received", "valid readings decoded", registry=r
        )
        self.written = Counter(
            "greenpulse_ingest_readings_written", "readings committed to the database", registry=r
        )
        self.rejected = Counter(
            "greenpulse_ingest_rejected",
            "dead letters committed to rejected_messages, by reason",
            ["reason"],
            registry=r,
        )
        for reason in reasons():  # every series exists from the start, so rate() works at once
            self.rejected.labels(reason)
        self.duplicates = Counter(
            "greenpulse_ingest_duplicates",
            "readings already stored (redelivery or repeats)",
            registry=r,
        )
        self.late = Counter(
            "greenpulse_ingest_late", "out-of-order readings spliced in", registry=r
        )
        self.events = Counter(
            "greenpulse_ingest_meter_events",
            "register events stored (an event judged again after a late reading is counted once)",
            registry=r,
        )
        self.events_withdrawn = Counter(
            "greenpulse_ingest_meter_events_withdrawn",
            "stored register events deleted because a late reading showed they were none "
            "(meter_events rows = meter_events_total - this)",
            registry=r,
        )
        self.replans = Counter(
            "greenpulse_ingest_replans",
            "batches stepped again at commit: the meter states were not what was expected "
            "(another ingester wrote first, or a batch failed)",
            registry=r,
        )
        self.ignored = Counter(
            "greenpulse_ingest_messages_ignored",
            "messages on GreenPulse's own topics under the prefix ({site}/live, {site}/alerts)",
            registry=r,
        )
        self.set_aside = Counter(
            "greenpulse_ingest_readings_set_aside",
            "valid readings in messages the database refused, stored as one write_failed "
            "dead letter per message",
            registry=r,
        )
        self.recopied = Counter(
            "greenpulse_ingest_early_copies_redone",
            "batches copied ahead of their meter locks, rolled back and written again",
            registry=r,
        )
        self.acked = Counter(
            "greenpulse_ingest_messages_acked", "messages acknowledged after commit", registry=r
        )
        self.unacked_stale = Counter(
            "greenpulse_ingest_messages_not_acked",
            "messages committed but received on a connection since lost (the broker redelivers)",
            registry=r,
        )
        self.db_retries = Counter(
            "greenpulse_ingest_db_retries", "failed batch writes retried", registry=r
        )
        self.reconnects = Counter(
            "greenpulse_ingest_mqtt_connects", "MQTT connections established", registry=r
        )
        self.batch_size = Histogram(
            "greenpulse_ingest_batch_readings",
            "readings per committed batch",
            buckets=BATCH_SIZE_BUCKETS,
            registry=r,
        )
        self.batch_latency = Histogram(
            "greenpulse_ingest_batch_seconds",
            "time to commit one batch (retries included)",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.pending = Gauge(
            "greenpulse_ingest_pending_readings",
            "readings received and not yet committed (queue depth)",
            registry=r,
        )
        self.pending_messages = Gauge(
            "greenpulse_ingest_pending_messages",
            "messages received and not yet acknowledged",
            registry=r,
        )
        self.lag = Gauge(
            "greenpulse_ingest_lag_seconds",
            "now minus the newest reading time in the last committed batch",
            registry=r,
        )
        self.connected = Gauge(
            "greenpulse_ingest_mqtt_connected", "1 while connected to the broker", registry=r
        )
        self.sparkplug_commands = Counter(
            "greenpulse_ingest_sparkplug_commands",
            "commands the Sparkplug host published (NCMD Node Control/Rebirth requests)",
            registry=r,
        )
        self.sparkplug_offline = Counter(
            "greenpulse_ingest_sparkplug_offline",
            "meters declared offline by an NDEATH or DDEATH of their edge node or device",
            registry=r,
        )
        self.sparkplug_unmapped = Gauge(
            "greenpulse_ingest_sparkplug_unmapped",
            "values of Sparkplug metrics the plant file does not map, per metric "
            "(the first UNMAPPED_SERIES metrics; all of them in the unmapped listing file)",
            ["group", "edge_node", "device", "metric"],
            registry=r,
        )
        self.sparkplug_unmapped_metrics = Gauge(
            "greenpulse_ingest_sparkplug_unmapped_metrics",
            "distinct unmapped Sparkplug metrics seen (names past the listing bound included)",
            registry=r,
        )
        self.db_down = Gauge(
            "greenpulse_ingest_db_failing",
            "1 while the database cannot be reached (writes fail and a ping fails)",
            registry=r,
        )

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:
        """Expose ``/metrics`` on ``port`` (a daemon thread; the ingester never serves its API)."""
        start_http_server(port, addr=addr, registry=self.registry)
        log.info("ingest: metrics on http://%s:%s/metrics", addr, port)

    def value(self, counter: Counter) -> float:
        """A counter's current total (for the summary line and tests)."""
        return float(counter._value.get())

    def rejected_total(self) -> float:
        return sum(self.value(self.rejected.labels(reason)) for reason in reasons())

    def totals_line(self) -> str:
        """Totals since start (the line logged on stop)."""
        return (
            f"{self.value(self.messages):.0f} messages, {self.value(self.written):.0f} readings "
            f"written, {self.rejected_total():.0f} rejected, {self.value(self.duplicates):.0f} "
            f"dup, {self.value(self.acked):.0f} acknowledged"
        )


@dataclass
class Summary:
    """The periodic one-line log summary, as rates since the previous line."""

    metrics: IngestMetrics
    _last: float = field(default_factory=time.monotonic)
    _totals: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    def line(self) -> str:
        m = self.metrics
        now = time.monotonic()
        elapsed = max(now - self._last, 1e-9)
        totals = (
            m.value(m.messages),
            m.value(m.written),
            m.rejected_total(),
            m.value(m.duplicates),
        )
        delta = [t - p for t, p in zip(totals, self._totals, strict=True)]
        self._last, self._totals = now, totals
        return (
            f"ingest: {delta[0] / elapsed:.0f} msgs/s in, {delta[1]:.0f} readings written, "
            f"{delta[2]:.0f} rejected, {delta[3]:.0f} dup, queue {m.pending._value.get():.0f}, "
            f"lag {m.lag._value.get():.1f} s"
        )


class RejectionLog:
    """Warn about rejections without flooding the log: one line per reason per interval.

    A misconfigured gateway can send thousands of bad readings a second; the
    first of each reason is logged with its topic and meter, the rest are
    counted and reported with the next line for that reason.
    """

    def __init__(self, interval_s: float = 10.0) -> None:
        self._interval_s = interval_s
        self._next: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def __call__(self, rejection: Rejection) -> None:
        now = time.monotonic()
        reason = rejection.reason
        if now < self._next.get(reason, 0.0):
            self._suppressed[reason] = self._suppressed.get(reason, 0) + 1
            return
        self._next[reason] = now + self._interval_s
        suppressed = self._suppressed.pop(reason, 0)
        log.warning(
            "ingest: rejected %s topic=%s meter=%s: %s%s",
            reason,
            rejection.topic,
            rejection.meter_id,
            rejection.detail,
            f" (+{suppressed} more {reason} since the last warning)" if suppressed else "",
        )
