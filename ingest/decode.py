"""Decode and validate MQTT payloads at the edge: pure functions, no I/O.

``decode`` turns one MQTT message into readings the writer can store and
rejections it keeps as dead letters, for any bytes on any topic, never raising.
Whatever passes must be storable as is: a value the database would refuse would
fail the whole batch over and over, so lengths, ranges and text are checked (or
cut to size) before anything reaches the writer.

Topics are dispatched by ``format_for`` over ``FORMATS``, a registry keyed by the
shape of the topic: GreenPulse JSON (``ingest.json_format``) and Sparkplug B, which
the ingester hands to its primary host (``ingest.sparkplug_link``) before ``decode``;
``decode`` alone answers it with ``unsupported_format``. The
types (``DecodedReading``, ``Rejection``, ``Reason``, ``PlantIndex`` …) live in
``ingest.decoded`` and are re-exported here, where callers import them from.
"""

from __future__ import annotations

import traceback
from datetime import datetime
from typing import Final

from ingest.decoded import (
    DETAIL_MAX,
    EPOCH_MS_THRESHOLD,
    MAX_VALUE,
    METER_ID_MAX,
    OLDEST,
    SEQ_MAX,
    TOPIC_MAX,
    Context,
    Decoded,
    DecodedReading,
    FormatDecoder,
    InvalidReadingError,
    Limits,
    MeterRef,
    PlantIndex,
    Reason,
    Rejection,
    TopicFormat,
    dead_letter,
    reasons,
    reject,
    topic_meter,
)
from ingest.json_format import decode_batch, decode_reading

__all__ = [
    "DETAIL_MAX",
    "EPOCH_MS_THRESHOLD",
    "FORMATS",
    "MAX_VALUE",
    "METER_ID_MAX",
    "OLDEST",
    "SEQ_MAX",
    "TOPIC_MAX",
    "Context",
    "Decoded",
    "DecodedReading",
    "FormatDecoder",
    "InvalidReadingError",
    "Limits",
    "MeterRef",
    "PlantIndex",
    "Reason",
    "Rejection",
    "TopicFormat",
    "dead_letter",
    "decode",
    "format_for",
    "is_own_topic",
    "reasons",
]


def decode(
    topic: str,
    payload: bytes,
    plant: PlantIndex,
    now: datetime,
    *,
    limits: Limits | None = None,
    prefix: str = "greenpulse",
) -> Decoded:
    """Decode one MQTT message into readings and rejections.

    Total: for any topic and any bytes it returns, never raises. One bad reading of a
    batch becomes one rejection and the others go on; a message that makes the decoder
    itself fail (a bug) becomes one ``internal_error`` rejection with the traceback.
    Both lists are empty only for GreenPulse's own topics (``is_own_topic``).

    Args:
        topic: the topic the message was published to.
        payload: the raw payload.
        plant: the plant lookups (``PlantIndex.from_plant``).
        now: the receive time (aware); judges future timestamps and stamps rejections.
        limits: edge limits (defaults: ``Limits()``).
        prefix: the first topic level of GreenPulse topics.
    """
    limits = limits or Limits()
    levels = tuple(topic.split("/"))
    ctx = Context(topic, levels, plant, now, limits)
    try:
        if is_own_topic(levels, prefix):
            return [], []
        if len(payload) > limits.max_payload_bytes:
            return [], [
                reject(
                    ctx,
                    Reason.PAYLOAD_TOO_LARGE,
                    f"payload is {len(payload)} bytes, the limit is {limits.max_payload_bytes}",
                    payload[: limits.stored_payload_bytes],
                    topic_meter(levels),
                )
            ]
        fmt = format_for(levels, prefix)
        if fmt is None:
            return [], [
                reject(
                    ctx,
                    Reason.UNKNOWN_TOPIC,
                    f"topic shape not recognised; expected {prefix}/{{site}}/{{meter}}/reading "
                    f"or {prefix}/{{site}}/gateway/{{gateway}}/batch",
                    payload,
                    None,
                )
            ]
        return fmt.decode(payload, ctx)
    except Exception:  # a bug must cost one dead letter, not the ingester
        return [], [
            reject(
                ctx,
                Reason.INTERNAL_ERROR,
                "the decoder failed on this message:\n" + traceback.format_exc(),
                bytes(payload),
                None,
            )
        ]


def format_for(levels: tuple[str, ...], prefix: str) -> TopicFormat | None:
    """The payload format of a topic (split on ``/``), ``None`` when no format claims it.

    The one place topics are dispatched: a new format is one more entry in ``FORMATS``
    (a Sparkplug B decoder replaces the ``sparkplug_b`` entry's ``decode``).
    """
    for fmt in FORMATS:
        if fmt.matches(levels, prefix):
            return fmt
    return None


def is_own_topic(levels: tuple[str, ...], prefix: str) -> bool:
    """GreenPulse's own output under the prefix (``{site}/live`` hints, ``{site}/alerts``):
    received because the ingester subscribes to the whole prefix, and ignored."""
    return len(levels) == 3 and levels[0] == prefix and levels[2] in _OWN_SUFFIXES


_OWN_SUFFIXES: Final = frozenset({"live", "alerts"})


def _unsupported(payload: bytes, ctx: Context) -> Decoded:
    return [], [
        reject(
            ctx,
            Reason.UNSUPPORTED_FORMAT,
            "Sparkplug B needs the ingester's primary host (ingest.sparkplug_link), "
            "not decode() alone (docs/mqtt.md, Sparkplug B)",
            payload,
            None,
        )
    ]


def _is_reading(levels: tuple[str, ...], prefix: str) -> bool:
    return len(levels) == 4 and levels[0] == prefix and levels[3] == "reading"


def _is_batch(levels: tuple[str, ...], prefix: str) -> bool:
    return (
        len(levels) == 5 and levels[0] == prefix and levels[2] == "gateway" and levels[4] == "batch"
    )


def _is_sparkplug_b(levels: tuple[str, ...], prefix: str) -> bool:
    return levels[0] == "spBv1.0"


FORMATS: Final[tuple[TopicFormat, ...]] = (
    TopicFormat("reading", _is_reading, decode_reading),
    TopicFormat("gateway_batch", _is_batch, decode_batch),
    TopicFormat("sparkplug_b", _is_sparkplug_b, _unsupported),
)
