"""The Sparkplug B payload through the protobuf runtime: parse, read values, build commands.

The message classes come from ``tahutils``, which ships Eclipse Tahu's generated
``sparkplug_b_pb2`` unmodified; parsing is protobuf's own (upb). This module is the
only one that imports them, so another source of the same descriptor is one import.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Final

from google.protobuf.message import DecodeError
from tahutils.tahu import sparkplug_b_pb2 as _pb

Payload: Final[Any] = _pb.Payload
"""``org.eclipse.tahu.protobuf.Payload`` (the Sparkplug B payload message)."""

REBIRTH_METRIC: Final = "Node Control/Rebirth"
BDSEQ_METRIC: Final = "bdSeq"


class DataType(IntEnum):
    """Sparkplug B 3.0 metric datatypes (spec 6.4.16)."""

    UNKNOWN = 0
    INT8 = 1
    INT16 = 2
    INT32 = 3
    INT64 = 4
    UINT8 = 5
    UINT16 = 6
    UINT32 = 7
    UINT64 = 8
    FLOAT = 9
    DOUBLE = 10
    BOOLEAN = 11
    STRING = 12
    DATETIME = 13
    TEXT = 14
    UUID = 15
    DATASET = 16
    BYTES = 17
    FILE = 18
    TEMPLATE = 19


_SIGNED_BITS: Final = {DataType.INT8: 8, DataType.INT16: 16, DataType.INT32: 32, DataType.INT64: 64}
_UNSIGNED_BITS: Final = {
    DataType.UINT8: 8,
    DataType.UINT16: 16,
    DataType.UINT32: 32,
    DataType.UINT64: 64,
}
NUMERIC: Final = frozenset({*_SIGNED_BITS, *_UNSIGNED_BITS, DataType.FLOAT, DataType.DOUBLE})


class NotANumberError(ValueError):
    """A metric whose datatype or value is not a number a meter can report."""


def parse(payload: bytes) -> Any | None:
    """The payload as a ``Payload`` message, or ``None`` when it is not one.

    protobuf accepts many byte strings as *some* message (unknown fields are kept),
    so a ``None`` here means broken wire format; the caller judges the content.
    """
    try:
        return Payload.FromString(payload)
    except (DecodeError, ValueError, RecursionError, RuntimeError):
        return None


def text(value: object) -> str | None:
    """A string field as text; ``None`` when the wire held invalid UTF-8 (proto2 keeps bytes)."""
    return value if isinstance(value, str) else None


def datatype(code: int) -> DataType:
    """A wire datatype code as ``DataType`` (``UNKNOWN`` for codes the spec does not name)."""
    try:
        return DataType(code)
    except ValueError:
        return DataType.UNKNOWN


def number(metric: Any, kind: DataType) -> float:
    """The numeric value of a metric of datatype ``kind``.

    Int8..Int64 travel as two's complement in the unsigned ``int_value``/``long_value``
    fields (spec 6.4.16); they are sign-extended from the datatype's width.

    Raises:
        NotANumberError: a null, a non-numeric datatype or a value field that does not fit.
    """
    if metric.is_null:
        raise NotANumberError("the metric is null (is_null)")
    field = metric.WhichOneof("value")
    if kind not in NUMERIC:
        raise NotANumberError(f"datatype {kind.name} is not a number")
    if kind is DataType.FLOAT or kind is DataType.DOUBLE:
        if field == "float_value":
            return float(metric.float_value)
        if field == "double_value":
            return float(metric.double_value)
        raise NotANumberError(f"a {kind.name} metric carries {field or 'no value'}")
    if field == "int_value":
        raw = int(metric.int_value)
    elif field == "long_value":
        raw = int(metric.long_value)
    else:
        raise NotANumberError(f"an integer ({kind.name}) metric carries {field or 'no value'}")
    bits = _SIGNED_BITS.get(kind)
    if bits is not None:
        raw &= (1 << bits) - 1
        if raw >= 1 << (bits - 1):
            raw -= 1 << bits
        return float(raw)
    bits = _UNSIGNED_BITS[kind]
    return float(raw & ((1 << bits) - 1))


def bdseq(metrics: Any) -> int | None:
    """The ``bdSeq`` metric's value in a birth or death certificate, if it carries one."""
    for metric in metrics:
        if metric.name == BDSEQ_METRIC:
            field = metric.WhichOneof("value")
            if field == "long_value":
                return int(metric.long_value)
            if field == "int_value":
                return int(metric.int_value)
            return None
    return None


def rebirth_request(now_ms: int) -> bytes:
    """An NCMD payload asking an edge node to publish its births again."""
    payload = Payload(timestamp=now_ms)
    metric = payload.metrics.add()
    metric.name = REBIRTH_METRIC
    metric.timestamp = now_ms
    metric.datatype = DataType.BOOLEAN
    metric.boolean_value = True
    return bytes(payload.SerializeToString())
