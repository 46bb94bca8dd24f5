"""Sparkplug B 3.0 topic names: ``spBv1.0/{group}/{type}/{edge_node}[/{device}]`` and STATE."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, NamedTuple

NAMESPACE: Final = "spBv1.0"
SUBSCRIPTION: Final = f"{NAMESPACE}/#"
STATE: Final = "STATE"


class MessageType(StrEnum):
    NBIRTH = "NBIRTH"
    NDEATH = "NDEATH"
    DBIRTH = "DBIRTH"
    DDEATH = "DDEATH"
    NDATA = "NDATA"
    DDATA = "DDATA"
    NCMD = "NCMD"
    DCMD = "DCMD"


_DEVICE_TYPES: Final = frozenset(
    {MessageType.DBIRTH, MessageType.DDEATH, MessageType.DDATA, MessageType.DCMD}
)


class EdgeNodeId(NamedTuple):
    """An edge node: its group and its own id (unique within the group).

    A named tuple: it keys every lookup of every metric, and tuples hash in C.
    """

    group: str
    edge_node: str

    def __str__(self) -> str:
        return f"{self.group}/{self.edge_node}"


@dataclass(frozen=True, slots=True)
class SparkplugTopic:
    """A parsed edge-node or device topic."""

    node: EdgeNodeId
    message_type: MessageType
    device: str | None  # None for the N* messages


@dataclass(frozen=True, slots=True)
class StateTopic:
    """``spBv1.0/STATE/{host_id}``: a primary host application's own state."""

    host_id: str


def parse_topic(topic: str) -> SparkplugTopic | StateTopic | None:
    """The topic's parts, or ``None`` when it is not a Sparkplug B 3.0 topic."""
    levels = topic.split("/")
    if len(levels) < 3 or levels[0] != NAMESPACE or any(not level for level in levels):
        return None
    if levels[1] == STATE:
        return StateTopic(levels[2]) if len(levels) == 3 else None
    if len(levels) not in (4, 5):
        return None
    try:
        kind = MessageType(levels[2])
    except ValueError:
        return None
    device = levels[4] if len(levels) == 5 else None
    if (device is not None) != (kind in _DEVICE_TYPES):
        return None
    return SparkplugTopic(EdgeNodeId(levels[1], levels[3]), kind, device)


def node_topic(node: EdgeNodeId, kind: MessageType, device: str | None = None) -> str:
    parts = [NAMESPACE, node.group, kind.value, node.edge_node]
    if device is not None:
        parts.append(device)
    return "/".join(parts)


def state_topic(host_id: str) -> str:
    """The host's STATE topic (Sparkplug 3.0: ``spBv1.0/STATE/{host_id}``)."""
    return f"{NAMESPACE}/{STATE}/{host_id}"


def state_payload(online: bool, timestamp_ms: int) -> bytes:
    """The 3.0 STATE payload, JSON ``{"online": ..., "timestamp": ...}`` (UTF-8)."""
    return json.dumps({"online": online, "timestamp": timestamp_ms}).encode()
