"""What the host state machine returns for one message (plain values)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from ingest.sparkplug.proto import DataType
from ingest.sparkplug.topic import EdgeNodeId, MessageType

BEFORE_BIRTH: Final = "before_birth"
UNKNOWN_ALIAS: Final = "unknown_alias"
INVALID_BIRTH: Final = "invalid_birth"
NODE_LIMIT: Final = "node_limit"


@dataclass(frozen=True, slots=True)
class Command:
    """An MQTT message the host must publish."""

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False


@dataclass(frozen=True, slots=True)
class ReceivedMetric:
    """One metric value of a birth or data message, its name and datatype resolved."""

    node: EdgeNodeId
    device: str | None
    name: str
    datatype: DataType
    metric: Any  # the protobuf Metric, for its value
    timestamp_ms: int | None  # the metric's own timestamp, else the payload's
    historical: bool
    transient: bool


@dataclass(frozen=True, slots=True)
class Unresolved:
    """A metric the host could not attribute (kept as a dead letter by the caller)."""

    node: EdgeNodeId
    device: str | None
    why: str  # BEFORE_BIRTH, UNKNOWN_ALIAS, INVALID_BIRTH, NODE_LIMIT
    detail: str
    raw: bytes  # the serialised metric (or payload when there is no metric)


@dataclass(frozen=True, slots=True)
class OfflineScope:
    """An edge node (``device`` None: the node and all its devices) or one device went offline."""

    node: EdgeNodeId
    device: str | None
    cause: MessageType


@dataclass(slots=True)
class HostOutput:
    metrics: list[ReceivedMetric] = field(default_factory=list)
    unresolved: list[Unresolved] = field(default_factory=list)
    offline: list[OfflineScope] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
