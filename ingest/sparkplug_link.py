"""The ingester's Sparkplug B primary host: one ``HostState`` per process, fed in receipt order.

``SparkplugLink`` is what ``ingest.service.Ingester`` holds for the ``spBv1.0/``
namespace: it decodes each message with ``decode_sparkplug`` (the readings and dead
letters go into the same batch as JSON ones), publishes the commands the host asks for
(rebirth requests), builds the host's STATE (the will of each CONNECT, the retained
"online" after it) and keeps the operator's view of unmapped metrics (Prometheus and a
JSON listing file).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

import aiomqtt

from app.domain.plant import Plant
from app.domain.register_runs import micros
from ingest.decode import Limits, PlantIndex
from ingest.metrics import IngestMetrics
from ingest.sparkplug import (
    Command,
    HostState,
    OfflineEvent,
    SparkplugDecoded,
    UnmappedMetric,
    decode_sparkplug,
    mapping_for,
)
from ingest.sparkplug_store import Snapshot

log = logging.getLogger(__name__)

NAMESPACE: Final = "spBv1.0"
UNMAPPED_SERIES: Final = 500
"""Unmapped metrics exported as labelled Prometheus series (bounded label cardinality)."""
_SESSION_TYPES: Final = frozenset({"NBIRTH", "DBIRTH", "NDEATH", "DDEATH"})


def is_sparkplug(topic: str) -> bool:
    return topic.startswith(NAMESPACE + "/")


@dataclass(slots=True)
class Decoded:
    """One Sparkplug message as the write loop takes it."""

    result: SparkplugDecoded
    births: Snapshot | None  # the sessions after this message, when it may have changed them

    @property
    def offline(self) -> list[OfflineEvent]:
        return self.result.offline


class SparkplugLink:
    """The primary host of one ingester process."""

    def __init__(
        self,
        host_id: str,
        plant: Plant,
        index: PlantIndex,
        limits: Limits,
        metrics: IngestMetrics,
        unmapped_file: Path | None = None,
    ) -> None:
        self.host_id = host_id
        self.state = HostState.create(host_id, index, mapping_for(plant), limits=limits)
        self._metrics = metrics
        self._unmapped_file = unmapped_file
        self._exported: set[tuple[str, str, str, str]] = set()

    # -- STATE ------------------------------------------------------------------------

    def will(self, connected_at: datetime) -> aiomqtt.Will:
        """The CONNECT's will: ``{"online": false}`` retained, QoS 1, stamped with the CONNECT."""
        command = self.state.host.state_will(micros(connected_at) // 1000)
        return aiomqtt.Will(command.topic, command.payload, qos=1, retain=True)

    def online(self, connected_at: datetime) -> Command:
        """Publish after the CONNECT (retained, QoS 1), with the will's timestamp."""
        return self.state.host.state_online(micros(connected_at) // 1000)

    def offline(self, connected_at: datetime) -> Command:
        """Publish before a clean disconnect (the broker does not send the will then)."""
        return self.state.host.state_will(micros(connected_at) // 1000)

    # -- messages ---------------------------------------------------------------------

    def restore(self, births: list[tuple[str, bytes]], now: datetime) -> int:
        """The births the last commit kept, before the first message after a start."""
        restored = self.state.restore(births, now)
        if births:
            log.info("ingest: Sparkplug host %r resumed %d births", self.host_id, restored)
        return restored

    def decode(self, topic: str, payload: bytes, received_at: datetime) -> Decoded:
        """Advance the host by one message (in receipt order); never raises for bad input."""
        result = decode_sparkplug(topic, payload, received_at, self.state)
        levels = topic.split("/", 3)
        changed = len(levels) > 2 and levels[2] in _SESSION_TYPES
        births = (self.host_id, self.state.snapshot()) if changed else None
        if result.offline:
            self._metrics.sparkplug_offline.inc(len(result.offline))
        return Decoded(result, births)

    def publish(self, client: aiomqtt.Client | None, commands: list[Command]) -> None:
        """Queue the host's commands on the connection (paho sends them; a lost rebirth
        request is asked again by the next gap or unknown alias)."""
        if client is None or not commands:
            return
        for command in commands:
            client._client.publish(
                command.topic, command.payload, qos=command.qos, retain=command.retain
            )
        self._metrics.sparkplug_commands.inc(len(commands))

    # -- what is not mapped -----------------------------------------------------------

    def report_unmapped(self) -> int:
        """Export the unmapped metrics (Prometheus, listing file); the number listed."""
        unmapped = self.state.unmapped
        gauge = self._metrics.sparkplug_unmapped
        listing = unmapped.listing()
        for entry in listing:
            labels = (entry.node.group, entry.node.edge_node, entry.device or "", entry.name)
            if labels in self._exported or len(self._exported) < UNMAPPED_SERIES:
                self._exported.add(labels)
                gauge.labels(*labels).set(entry.count)
        self._metrics.sparkplug_unmapped_metrics.set(len(listing) + unmapped.overflow)
        if self._unmapped_file is not None and listing:
            self._write_listing(listing, unmapped.overflow)
        return len(listing)

    def _write_listing(self, listing: list[UnmappedMetric], overflow: int) -> None:
        path = self._unmapped_file
        assert path is not None
        doc = {
            "host_id": self.host_id,
            "overflow": overflow,
            "metrics": [
                {
                    "group": e.node.group,
                    "edge_node": e.node.edge_node,
                    "device": e.device,
                    "metric": e.name,
                    "datatype": e.datatype.name,
                    "count": e.count,
                    "first_seen": e.first_seen.isoformat(),
                    "last_seen": e.last_seen.isoformat(),
                }
                for e in listing
            ],
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(doc, indent=1), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("ingest: cannot write the unmapped Sparkplug listing %s: %s", path, exc)


def unmapped_file_for(journal: Path | None) -> Path | None:
    """Where the listing goes: beside the journal (``{client}.sparkplug-unmapped.json``)."""
    if journal is None:
        return None
    return journal.with_name(journal.stem + ".sparkplug-unmapped.json")
