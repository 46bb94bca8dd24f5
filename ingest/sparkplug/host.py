"""A Sparkplug B 3.0 primary host application as a pure state machine.

``SparkplugHost.receive`` takes one parsed message and the time, updates what the
host knows of each edge node (session, ``bdSeq``, ``seq``, aliases and datatypes
from the births) and returns what follows: the metrics the message carries, the
metrics it could not resolve, the edge nodes and devices that went offline and the
commands to publish (rebirth requests). No I/O; the caller publishes the commands.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

from ingest.sparkplug import proto
from ingest.sparkplug.outcome import (
    BEFORE_BIRTH,
    INVALID_BIRTH,
    NODE_LIMIT,
    UNKNOWN_ALIAS,
    Command,
    HostOutput,
    OfflineScope,
    ReceivedMetric,
    Unresolved,
)
from ingest.sparkplug.proto import DataType
from ingest.sparkplug.topic import (
    EdgeNodeId,
    MessageType,
    SparkplugTopic,
    node_topic,
    parse_topic,
    state_payload,
    state_topic,
)

SEQ_MODULO: Final = 256


@dataclass(slots=True)
class _Session:
    """What one NBIRTH (and the DBIRTHs after it) told the host."""

    bdseq: int | None
    last_seq: int
    names: dict[tuple[str | None, str], DataType] = field(default_factory=dict)
    aliases: dict[int, tuple[str | None, str]] = field(default_factory=dict)
    devices: set[str] = field(default_factory=set)
    births: dict[str | None, bytes] = field(default_factory=dict)  # None: the NBIRTH
    resumed: bool = False  # restored from a snapshot: the next seq is taken as it comes


class SparkplugHost:
    """The host's view of every edge node it has heard from.

    Args:
        host_id: the primary host id (its STATE topic is ``spBv1.0/STATE/{host_id}``).
        rebirth_holdoff_ms: at most one rebirth request per edge node in this time.
        max_nodes: bound on the edge nodes tracked (memory bounded whatever the wire says).
        max_metrics_per_node: bound on the metric names of one node and its devices.
    """

    def __init__(
        self,
        host_id: str,
        *,
        rebirth_holdoff_ms: int = 5_000,
        max_nodes: int = 10_000,
        max_metrics_per_node: int = 50_000,
    ) -> None:
        if not host_id or any(c in host_id for c in "/+#"):
            raise ValueError(f"host id {host_id!r} must be a non-empty topic level")
        self.host_id = host_id
        self.rebirth_holdoff_ms = rebirth_holdoff_ms
        self.max_nodes = max_nodes
        self.max_metrics_per_node = max_metrics_per_node
        self._sessions: dict[EdgeNodeId, _Session] = {}
        self._rebirth_at: dict[EdgeNodeId, int] = {}
        self._restoring = False
        self.counts: Counter[str] = Counter()
        """Protocol events: messages per type, seq_gap, stale_ndeath, rebirth_requested…"""

    # --- the host's own STATE -----------------------------------------------------------

    def state_online(self, connected_ms: int) -> Command:
        """Publish after each CONNECT: retained, QoS 1, the CONNECT's timestamp."""
        return Command(state_topic(self.host_id), state_payload(True, connected_ms), 1, True)

    def state_will(self, connected_ms: int) -> Command:
        """The MQTT will of each CONNECT (and what to publish before a clean disconnect)."""
        return Command(state_topic(self.host_id), state_payload(False, connected_ms), 1, True)

    # --- what the host knows ------------------------------------------------------------

    def node_online(self, node: EdgeNodeId) -> bool:
        return node in self._sessions

    def device_online(self, node: EdgeNodeId, device: str) -> bool:
        session = self._sessions.get(node)
        return session is not None and device in session.devices

    def nodes(self) -> list[EdgeNodeId]:
        return list(self._sessions)

    # --- surviving a restart -----------------------------------------------------------

    def snapshot(self) -> list[tuple[str, bytes]]:
        """The births of every live session (topic, payload), NBIRTH before its DBIRTHs.

        Kept by the caller (with each commit, say) and given to ``restore`` after a
        restart, so the DDATA the broker queued meanwhile still resolve their aliases.
        """
        items: list[tuple[str, bytes]] = []
        for node, session in self._sessions.items():
            for device, payload in sorted(session.births.items(), key=lambda b: b[0] or ""):
                kind = MessageType.NBIRTH if device is None else MessageType.DBIRTH
                items.append((node_topic(node, kind, device), payload))
        return items

    def restore(self, births: list[tuple[str, bytes]], now_ms: int) -> int:
        """Take the sessions of a ``snapshot`` back (no readings, no commands); returns how many.

        The first ``seq`` of each restored node after this is taken as it comes.
        """
        counts = self.counts.copy()
        restored = 0
        self._restoring = True
        try:
            for topic, raw in births:
                parsed, payload = parse_topic(topic), proto.parse(raw)
                if not isinstance(parsed, SparkplugTopic) or payload is None:
                    continue
                if parsed.message_type in (MessageType.NBIRTH, MessageType.DBIRTH):
                    self.receive(parsed, payload, now_ms)
                    restored += 1
        finally:
            self._restoring = False
            self.counts = counts
        for session in self._sessions.values():
            session.resumed = True
        self._rebirth_at.clear()
        self.counts["restored_births"] += restored
        return restored

    # --- messages -----------------------------------------------------------------------

    def receive(self, topic: SparkplugTopic, payload: Any, now_ms: int) -> HostOutput:
        """Apply one edge-node or device message (``payload`` a parsed ``Payload``)."""
        out = HostOutput()
        kind = topic.message_type
        self.counts[kind.value] += 1
        if kind is MessageType.NBIRTH:
            self._node_birth(topic.node, payload, now_ms, out)
        elif kind is MessageType.NDEATH:
            self._node_death(topic.node, payload, out)
        elif kind in (MessageType.NCMD, MessageType.DCMD):
            pass  # commands to edge nodes (ours among them), not data
        else:
            self._in_session(topic, payload, now_ms, out)
        return out

    def _node_birth(self, node: EdgeNodeId, payload: Any, now_ms: int, out: HostOutput) -> None:
        if node not in self._sessions and len(self._sessions) >= self.max_nodes:
            self.counts["node_limit"] += 1
            out.unresolved.append(
                Unresolved(
                    node,
                    None,
                    NODE_LIMIT,
                    f"{self.max_nodes} edge nodes are tracked already",
                    bytes(payload.SerializeToString()),
                )
            )
            return
        session = _Session(
            bdseq=proto.bdseq(payload.metrics),
            last_seq=int(payload.seq) if payload.HasField("seq") else 0,
        )
        self._sessions[node] = session  # a rebirth replaces the session and forgets devices
        session.births[None] = bytes(payload.SerializeToString())
        self._rebirth_at.pop(node, None)
        self._births(node, None, payload, session, out)

    def _node_death(self, node: EdgeNodeId, payload: Any, out: HostOutput) -> None:
        session = self._sessions.get(node)
        if session is None:
            self.counts["ndeath_unknown_node"] += 1
            return
        death_bdseq = proto.bdseq(payload.metrics)
        if death_bdseq != session.bdseq:
            # the will of an earlier connection, delivered after the node came back
            self.counts["stale_ndeath"] += 1
            return
        del self._sessions[node]
        out.offline.append(OfflineScope(node, None, MessageType.NDEATH))

    def _in_session(
        self, topic: SparkplugTopic, payload: Any, now_ms: int, out: HostOutput
    ) -> None:
        node, device, kind = topic.node, topic.device, topic.message_type
        session = self._sessions.get(node)
        if session is None:
            self.counts["before_birth"] += 1
            self._unresolved_all(node, device, payload, BEFORE_BIRTH, "no NBIRTH yet", out)
            self._rebirth(node, now_ms, out)
            return
        self._check_seq(node, session, payload, now_ms, out)
        if kind is MessageType.DBIRTH:
            assert device is not None
            for key in [k for k in session.names if k[0] == device]:
                del session.names[key]
            for alias in [a for a, (d, _) in session.aliases.items() if d == device]:
                del session.aliases[alias]
            session.devices.add(device)
            session.births[device] = bytes(payload.SerializeToString())
            self._births(node, device, payload, session, out)
            return
        if kind is MessageType.DDEATH:
            assert device is not None
            if device in session.devices:
                session.devices.discard(device)
                session.births.pop(device, None)
                out.offline.append(OfflineScope(node, device, MessageType.DDEATH))
            else:
                self.counts["ddeath_unknown_device"] += 1
            return
        if device is not None and device not in session.devices:
            self.counts["before_birth"] += 1
            self._unresolved_all(node, device, payload, BEFORE_BIRTH, "no DBIRTH yet", out)
            self._rebirth(node, now_ms, out)
            return
        self._data(node, device, payload, session, now_ms, out)

    def _check_seq(
        self, node: EdgeNodeId, session: _Session, payload: Any, now_ms: int, out: HostOutput
    ) -> None:
        if not payload.HasField("seq"):
            self.counts["missing_seq"] += 1
            return
        seq = int(payload.seq)
        if self._restoring or session.resumed:
            session.resumed = False
        elif seq != (session.last_seq + 1) % SEQ_MODULO:
            self.counts["seq_gap"] += 1
            self._rebirth(node, now_ms, out)
        session.last_seq = seq % SEQ_MODULO

    def _births(
        self,
        node: EdgeNodeId,
        device: str | None,
        payload: Any,
        session: _Session,
        out: HostOutput,
    ) -> None:
        default_ms = int(payload.timestamp) if payload.HasField("timestamp") else None
        for metric in payload.metrics:
            name = proto.text(metric.name)
            if not name or not metric.HasField("datatype"):
                self._unresolved(node, device, metric, INVALID_BIRTH, "no name or datatype", out)
                continue
            if len(session.names) >= self.max_metrics_per_node:
                self.counts["node_limit"] += 1
                self._unresolved(
                    node,
                    device,
                    metric,
                    NODE_LIMIT,
                    f"the node has {self.max_metrics_per_node} metrics already",
                    out,
                )
                continue
            kind = proto.datatype(metric.datatype)
            session.names[(device, name)] = kind
            if metric.HasField("alias"):
                alias = int(metric.alias)
                holder = session.aliases.get(alias)
                if holder is not None and holder != (device, name):
                    self._unresolved(
                        node, device, metric, INVALID_BIRTH, f"alias {alias} is used twice", out
                    )
                    continue
                session.aliases[alias] = (device, name)
            out.metrics.append(_received(node, device, name, kind, metric, default_ms))

    def _data(
        self,
        node: EdgeNodeId,
        device: str | None,
        payload: Any,
        session: _Session,
        now_ms: int,
        out: HostOutput,
    ) -> None:
        default_ms = int(payload.timestamp) if payload.HasField("timestamp") else None
        for metric in payload.metrics:
            name: str | None = None
            if metric.HasField("alias"):
                owner = session.aliases.get(int(metric.alias))
                if owner is not None and owner[0] == device:
                    name = owner[1]
            else:
                sent = proto.text(metric.name)
                if sent and (device, sent) in session.names:
                    name = sent
            if name is None:
                self.counts["unknown_alias"] += 1
                what = f"alias {metric.alias}" if metric.HasField("alias") else "metric name"
                self._unresolved(node, device, metric, UNKNOWN_ALIAS, f"{what} not in birth", out)
                self._rebirth(node, now_ms, out)
                continue
            kind = session.names[(device, name)]
            out.metrics.append(_received(node, device, name, kind, metric, default_ms))

    def _rebirth(self, node: EdgeNodeId, now_ms: int, out: HostOutput) -> None:
        last = self._rebirth_at.get(node)
        if last is not None and 0 <= now_ms - last < self.rebirth_holdoff_ms:
            return
        if last is None and len(self._rebirth_at) >= self.max_nodes:
            self._rebirth_at.pop(next(iter(self._rebirth_at)))
        self._rebirth_at[node] = now_ms
        self.counts["rebirth_requested"] += 1
        out.commands.append(
            Command(node_topic(node, MessageType.NCMD), proto.rebirth_request(now_ms))
        )

    def _unresolved_all(
        self,
        node: EdgeNodeId,
        device: str | None,
        payload: Any,
        why: str,
        detail: str,
        out: HostOutput,
    ) -> None:
        for metric in payload.metrics:
            self._unresolved(node, device, metric, why, detail, out)

    @staticmethod
    def _unresolved(
        node: EdgeNodeId, device: str | None, metric: Any, why: str, detail: str, out: HostOutput
    ) -> None:
        label = proto.text(metric.name) or (
            f"alias {metric.alias}" if metric.HasField("alias") else "?"
        )
        out.unresolved.append(
            Unresolved(node, device, why, f"{label}: {detail}", bytes(metric.SerializeToString()))
        )


def _received(
    node: EdgeNodeId,
    device: str | None,
    name: str,
    kind: DataType,
    metric: Any,
    default_ms: int | None,
) -> ReceivedMetric:
    timestamp = int(metric.timestamp) if metric.HasField("timestamp") else default_ms
    return ReceivedMetric(
        node,
        device,
        name,
        kind,
        metric,
        timestamp,
        bool(metric.is_historical),
        bool(metric.is_transient),
    )
