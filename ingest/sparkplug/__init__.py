"""Sparkplug B 3.0 ingest: a primary host application, pure and synchronous.

``decode_sparkplug(topic, payload, received_at, host_state)`` is the entry point; the
ingest loop subscribes to ``SUBSCRIPTION``, publishes ``SparkplugDecoded.commands`` and
the host's STATE (``HostState.host.state_online`` / ``state_will``).
"""

from app.domain.plant import SparkplugSource
from ingest.sparkplug.adapter import (
    HostState,
    OfflineEvent,
    SparkplugDecoded,
    SparkplugReason,
    decode_sparkplug,
    reasons,
)
from ingest.sparkplug.host import SparkplugHost
from ingest.sparkplug.mapping import (
    MeterBinding,
    SparkplugMapping,
    load_plant_and_mapping,
    mapping_for,
    parse_mapping,
)
from ingest.sparkplug.outcome import Command
from ingest.sparkplug.topic import SUBSCRIPTION, EdgeNodeId, MessageType, state_topic
from ingest.sparkplug.unmapped import UnmappedMetric, UnmappedMetrics

__all__ = [
    "SUBSCRIPTION",
    "Command",
    "EdgeNodeId",
    "HostState",
    "MessageType",
    "MeterBinding",
    "OfflineEvent",
    "SparkplugDecoded",
    "SparkplugHost",
    "SparkplugMapping",
    "SparkplugReason",
    "SparkplugSource",
    "UnmappedMetric",
    "UnmappedMetrics",
    "decode_sparkplug",
    "load_plant_and_mapping",
    "mapping_for",
    "parse_mapping",
    "reasons",
    "state_topic",
]
