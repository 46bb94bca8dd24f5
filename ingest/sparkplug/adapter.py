"""``decode_sparkplug``: one Sparkplug B message in, readings and dead letters out.

The same ``DecodedReading`` and ``Rejection`` as ``ingest.decode`` for the JSON
formats, with the same reason codes wherever the fault is the same (unit, finite,
negative, timestamp, size); ``SparkplugReason`` adds the faults only Sparkplug has.
Besides readings, a message can yield commands to publish (rebirth requests) and
offline events (NDEATH, DDEATH). Never raises for bad input.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final

from app.domain.register_runs import micros
from ingest.decode import (
    METER_ID_MAX,
    TOPIC_MAX,
    DecodedReading,
    Limits,
    PlantIndex,
    Reason,
    Rejection,
)
from ingest.sparkplug import proto
from ingest.sparkplug.host import SparkplugHost
from ingest.sparkplug.mapping import MeterBinding, SparkplugMapping
from ingest.sparkplug.outcome import (
    BEFORE_BIRTH,
    INVALID_BIRTH,
    NODE_LIMIT,
    UNKNOWN_ALIAS,
    Command,
    ReceivedMetric,
)
from ingest.sparkplug.topic import EdgeNodeId, MessageType, StateTopic, parse_topic
from ingest.sparkplug.unmapped import UnmappedMetrics

log = logging.getLogger(__name__)

_PROTOCOL_PREFIXES: Final = ("Node Control/", "Device Control/", "Properties/")


class SparkplugReason(StrEnum):
    """Reason codes only Sparkplug messages have (beside ``ingest.decode.Reason``)."""

    MALFORMED_PROTOBUF = "malformed_protobuf"
    BEFORE_BIRTH = "sparkplug_before_birth"
    UNKNOWN_ALIAS = "sparkplug_unknown_alias"
    INVALID_BIRTH = "sparkplug_invalid_birth"
    NODE_LIMIT = "sparkplug_node_limit"


def reasons() -> list[str]:
    """The Sparkplug-only reason codes (metrics pre-create a series per reason)."""
    return [reason.value for reason in SparkplugReason]


_WHY: Final = {
    BEFORE_BIRTH: SparkplugReason.BEFORE_BIRTH,
    UNKNOWN_ALIAS: SparkplugReason.UNKNOWN_ALIAS,
    INVALID_BIRTH: SparkplugReason.INVALID_BIRTH,
    NODE_LIMIT: SparkplugReason.NODE_LIMIT,
}


@dataclass(frozen=True, slots=True)
class OfflineEvent:
    """A meter whose edge node or device died: offline now, not after missed intervals."""

    site_id: str
    meter_id: str
    at: datetime
    cause: MessageType  # NDEATH or DDEATH
    node: EdgeNodeId
    device: str | None


@dataclass(slots=True)
class SparkplugDecoded:
    readings: list[DecodedReading] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    offline: list[OfflineEvent] = field(default_factory=list)


@dataclass
class HostState:
    """Everything ``decode_sparkplug`` keeps between messages (one per ingest process).

    ``host`` is the protocol state machine; ``unmapped`` lists what edge nodes offer
    that the plant file does not map (an operator's view of a new gateway).
    """

    plant: PlantIndex
    mapping: SparkplugMapping
    host: SparkplugHost
    limits: Limits = field(default_factory=Limits)
    unmapped: UnmappedMetrics = field(default_factory=UnmappedMetrics)
    _checked: dict[str, bool] = field(default_factory=dict, repr=False)

    def binding_ok(self, binding: MeterBinding) -> bool:
        """The binding's meter is in the plant and takes the binding's unit (cached)."""
        ok = self._checked.get(binding.meter_id)
        if ok is None:
            meter = self.plant.meters.get(binding.meter_id)
            ok = (
                meter is not None
                and meter.site_id == binding.site_id
                and self.plant.unit_problem(binding.unit, meter.unit) is None
            )
            self._checked[binding.meter_id] = ok
        return ok

    def snapshot(self) -> list[tuple[str, bytes]]:
        """What to keep across a restart (``SparkplugHost.snapshot``)."""
        return self.host.snapshot()

    def restore(self, births: list[tuple[str, bytes]], received_at: datetime) -> int:
        """Take a snapshot back before the first message after a restart."""
        return self.host.restore(births, micros(received_at) // 1000)

    @classmethod
    def create(
        cls,
        host_id: str,
        plant: PlantIndex,
        mapping: SparkplugMapping,
        *,
        limits: Limits | None = None,
        rebirth_holdoff: timedelta = timedelta(seconds=5),
    ) -> HostState:
        holdoff_ms = int(rebirth_holdoff.total_seconds() * 1000)
        return cls(
            plant,
            mapping,
            SparkplugHost(host_id, rebirth_holdoff_ms=holdoff_ms),
            limits or Limits(),
        )


def decode_sparkplug(
    topic: str, payload: bytes, received_at: datetime, host_state: HostState
) -> SparkplugDecoded:
    """Decode one message of the ``spBv1.0/`` namespace and advance the host's state.

    Args:
        topic: the MQTT topic (``spBv1.0/...``).
        payload: the raw payload.
        received_at: the receive time (aware); judges future timestamps, stamps events.
        host_state: the host state, updated in place.
    """
    try:
        return _decode(topic, payload, received_at, host_state)
    except Exception as exc:  # a bug must not stop ingestion either: a dead letter, logged
        host_state.host.counts["internal_error"] += 1
        log.exception("Sparkplug message on %s could not be decoded", _clean(topic)[:TOPIC_MAX])
        limits = host_state.limits
        return SparkplugDecoded(
            rejections=[
                _reject(
                    topic,
                    Reason.INVALID_PAYLOAD,
                    f"Sparkplug message refused: {type(exc).__name__}",
                    payload[: limits.stored_payload_bytes],
                    None,
                    received_at,
                )
            ]
        )


def _decode(
    topic: str, payload: bytes, received_at: datetime, host_state: HostState
) -> SparkplugDecoded:
    out = SparkplugDecoded()
    limits = host_state.limits
    if len(payload) > limits.max_payload_bytes:
        out.rejections.append(
            _reject(
                topic,
                Reason.PAYLOAD_TOO_LARGE,
                f"payload is {len(payload)} bytes, the limit is {limits.max_payload_bytes}",
                payload[: limits.stored_payload_bytes],
                None,
                received_at,
            )
        )
        return out
    parsed_topic = parse_topic(topic)
    if isinstance(parsed_topic, StateTopic):
        host_state.host.counts["STATE"] += 1  # ours or another host's: not data
        return out
    if parsed_topic is None:
        out.rejections.append(
            _reject(
                topic,
                Reason.UNKNOWN_TOPIC,
                "not a Sparkplug B topic: expected spBv1.0/{group}/{type}/{edge_node}[/{device}]",
                payload,
                None,
                received_at,
            )
        )
        return out
    message = proto.parse(payload)
    if message is None:
        out.rejections.append(
            _reject(
                topic,
                SparkplugReason.MALFORMED_PROTOBUF,
                "payload is not a Sparkplug B protobuf Payload",
                payload,
                None,
                received_at,
            )
        )
        return out
    step = host_state.host.receive(parsed_topic, message, micros(received_at) // 1000)
    out.commands.extend(step.commands)
    for problem in step.unresolved:
        out.rejections.append(
            _reject(topic, _WHY[problem.why], problem.detail, problem.raw, None, received_at)
        )
    if step.metrics:
        _readings(topic, step.metrics, received_at, host_state, out)
    for scope in step.offline:
        for binding in host_state.mapping.meters_of(scope.node, scope.device):
            out.offline.append(
                OfflineEvent(
                    binding.site_id,
                    binding.meter_id,
                    received_at,
                    scope.cause,
                    scope.node,
                    scope.device,
                )
            )
    return out


_FLOATS: Final = frozenset({proto.DataType.FLOAT, proto.DataType.DOUBLE})


def _readings(
    topic: str,
    metrics: list[ReceivedMetric],
    received_at: datetime,
    host_state: HostState,
    out: SparkplugDecoded,
) -> None:
    """The readings of one message's metrics (all of one edge node or device)."""
    first = metrics[0]
    source = host_state.mapping.source(first.node, first.device)
    latest_us = micros(received_at + host_state.limits.max_future)
    oldest_us = micros(host_state.limits.oldest)
    readings = out.readings
    for metric in metrics:
        binding = source.get(metric.name)
        if binding is None:
            name = metric.name
            if name != proto.BDSEQ_METRIC and not name.startswith(_PROTOCOL_PREFIXES):
                host_state.unmapped.saw(
                    metric.node, metric.device, name, metric.datatype, received_at
                )
            continue
        if metric.transient:
            host_state.host.counts["transient_skipped"] += 1  # spec: not to be historised
            continue
        wire = metric.metric
        if wire.is_null:
            host_state.host.counts["null_skipped"] += 1  # "no value now" (a birth before data)
            continue
        # the common case inline: a float metric, finite, not negative, on time, unit known
        if (
            metric.datatype in _FLOATS
            and metric.timestamp_ms is not None
            and host_state.binding_ok(binding)
        ):
            field = wire.WhichOneof("value")
            value = (
                wire.double_value
                if field == "double_value"
                else wire.float_value
                if field == "float_value"
                else None
            )
            time_us = metric.timestamp_ms * 1000
            if value is not None and 0.0 <= value < math.inf and oldest_us <= time_us <= latest_us:
                readings.append(
                    DecodedReading(
                        binding.site_id, binding.meter_id, time_us, value, binding.unit, None
                    )
                )
                continue
        try:
            readings.append(_validated(metric, binding, received_at, host_state))
        except _RefusedError as exc:
            out.rejections.append(
                _reject(
                    topic,
                    exc.reason,
                    f"{metric.name}: {exc.detail}",
                    bytes(wire.SerializeToString()),
                    binding.meter_id,
                    received_at,
                )
            )


class _RefusedError(Exception):
    def __init__(self, reason: StrEnum, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _validated(
    metric: ReceivedMetric, binding: MeterBinding, received_at: datetime, host_state: HostState
) -> DecodedReading:
    """The checks ``ingest.decode`` makes of a JSON reading, on a Sparkplug metric."""
    plant, limits = host_state.plant, host_state.limits
    meter = plant.meters.get(binding.meter_id)
    if meter is None or meter.site_id != binding.site_id:
        raise _RefusedError(Reason.UNKNOWN_METER, f"meter {binding.meter_id!r} is not in the plant")
    problem = plant.unit_problem(binding.unit, meter.unit)
    if problem is not None:
        raise _RefusedError(*problem)
    try:
        value = proto.number(metric.metric, metric.datatype)
    except proto.NotANumberError as exc:
        raise _RefusedError(Reason.WRONG_TYPE, str(exc)) from None
    if not math.isfinite(value):
        raise _RefusedError(Reason.NOT_FINITE, f"value {value} is not a finite number")
    if value < 0:
        raise _RefusedError(Reason.NEGATIVE_VALUE, f"value {value} is negative")
    if metric.timestamp_ms is None:
        # the receive time would make a redelivered message a second reading
        raise _RefusedError(
            Reason.BAD_TIMESTAMP, "neither the metric nor the payload has a timestamp"
        )
    time_us = metric.timestamp_ms * 1000
    if time_us > micros(received_at + limits.max_future):
        raise _RefusedError(
            Reason.FUTURE_TIMESTAMP,
            f"timestamp {metric.timestamp_ms} ms is more than {limits.max_future} ahead of "
            f"the ingester clock ({received_at.astimezone(UTC).isoformat()})",
        )
    if time_us < micros(limits.oldest):
        raise _RefusedError(
            Reason.ANCIENT_TIMESTAMP,
            f"timestamp {metric.timestamp_ms} ms is before {limits.oldest.date()}: clock not set?",
        )
    return DecodedReading(binding.site_id, binding.meter_id, time_us, value, binding.unit, None)


def _reject(
    topic: str,
    reason: StrEnum,
    detail: str,
    payload: bytes,
    meter_id: str | None,
    received_at: datetime,
) -> Rejection:
    return Rejection(
        topic=_clean(topic)[:TOPIC_MAX],
        reason=reason.value,
        detail=_clean(detail),
        payload=payload,
        meter_id=None if meter_id is None else _clean(meter_id)[:METER_ID_MAX],
        received_at=received_at,
    )


def _clean(text: str) -> str:
    return text.replace("\x00", "\\x00")
