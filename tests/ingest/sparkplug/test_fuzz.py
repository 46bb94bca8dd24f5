"""Hostile payloads never raise and never yield a reading the JSON checks would refuse."""

from __future__ import annotations

import math
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.decode import DecodedReading, Limits
from ingest.sparkplug import HostState, decode_sparkplug
from ingest.sparkplug.proto import DataType, Payload
from tests.ingest.sparkplug.support import DEVICE, T0, T0_MS, Edge, host_state, topic

TOPICS = [topic(k) for k in ("NBIRTH", "NDATA", "NDEATH")] + [
    topic(k, DEVICE) for k in ("DBIRTH", "DDATA", "DDEATH")
]
LIMITS = Limits()


def assert_storable(readings: list[DecodedReading]) -> None:
    latest = (T0 + LIMITS.max_future).timestamp() * 1e6
    for reading in readings:
        assert math.isfinite(reading.raw_value) and reading.raw_value >= 0
        assert LIMITS.oldest.timestamp() * 1e6 <= reading.time_us <= latest
        assert reading.raw_unit in {"kWh", "W", "m3"}


def valid_messages() -> list[tuple[str, bytes]]:
    edge = Edge()
    return [
        (topic("NBIRTH"), edge.nbirth()),
        (topic("DBIRTH", DEVICE), edge.dbirth()),
        (
            topic("DDATA", DEVICE),
            edge.ddata(T0_MS, [(10, DataType.DOUBLE, 5.0), (11, DataType.INT32, 7)]),
        ),
        (topic("NDEATH"), edge.ndeath()),
    ]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600), st.sampled_from([*TOPICS, "spBv1.0/STATE/h", "spBv1.0/x"]))
def test_random_bytes(payload: bytes, where: str) -> None:
    state = host_state()
    for name, valid in valid_messages()[:2]:
        decode_sparkplug(name, valid, T0, state)
    out = decode_sparkplug(where, payload, T0, state)
    assert_storable(out.readings)
    assert state.host.counts["internal_error"] == 0


@st.composite
def mutated(draw: st.DrawFn) -> list[tuple[str, bytes]]:
    messages = valid_messages()
    out = []
    for name, payload in messages:
        data = bytearray(payload)
        for _ in range(draw(st.integers(0, 6))):
            if not data:
                break
            at = draw(st.integers(0, len(data) - 1))
            op = draw(st.sampled_from(["flip", "cut", "insert"]))
            if op == "flip":
                data[at] ^= draw(st.integers(1, 255))
            elif op == "cut":
                del data[at:]
            else:
                data[at:at] = draw(st.binary(min_size=1, max_size=12))
        out.append((draw(st.sampled_from([name, *TOPICS])), bytes(data)))
    return draw(st.permutations(out))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_valid_sessions(messages: list[tuple[str, bytes]]) -> None:
    state: HostState = host_state()
    for index, (name, payload) in enumerate(messages):
        out = decode_sparkplug(name, payload, T0 + timedelta(seconds=index), state)
        assert_storable(out.readings)
        for command in out.commands:
            assert command.topic.startswith("spBv1.0/") and "/NCMD/" in command.topic
    assert state.host.counts["internal_error"] == 0


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    """Well-formed protobuf with hostile content: any datatype, value field, alias, time."""
    payload = Payload()
    if draw(st.booleans()):
        payload.timestamp = draw(st.integers(0, 2**64 - 1))
    if draw(st.booleans()):
        payload.seq = draw(st.integers(0, 2**64 - 1))
    for _ in range(draw(st.integers(0, 6))):
        metric = payload.metrics.add()
        if draw(st.booleans()):
            metric.name = draw(
                st.sampled_from(["Energy/Import", "Power/PV5", "Feeder/Gas", "bdSeq", "x"])
            )
        if draw(st.booleans()):
            metric.alias = draw(st.sampled_from([1, 2, 10, 11, 12, 99, 2**64 - 1]))
        if draw(st.booleans()):
            metric.datatype = draw(st.integers(0, 40))
        if draw(st.booleans()):
            metric.timestamp = draw(st.integers(0, 2**64 - 1))
        metric.is_historical = draw(st.booleans())
        metric.is_transient = draw(st.booleans())
        metric.is_null = draw(st.booleans())
        field = draw(
            st.sampled_from(["int", "long", "float", "double", "bool", "str", "bytes", "none"])
        )
        if field == "int":
            metric.int_value = draw(st.integers(0, 2**32 - 1))
        elif field == "long":
            metric.long_value = draw(st.integers(0, 2**64 - 1))
        elif field == "float":
            metric.float_value = draw(st.floats(width=32))
        elif field == "double":
            metric.double_value = draw(st.floats())
        elif field == "bool":
            metric.boolean_value = draw(st.booleans())
        elif field == "str":
            metric.string_value = draw(st.text(max_size=8))
        elif field == "bytes":
            metric.bytes_value = draw(st.binary(max_size=8))
    return bytes(payload.SerializeToString())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(TOPICS), payloads()), max_size=8))
def test_structured_hostile_sessions(messages: list[tuple[str, bytes]]) -> None:
    state = host_state()
    for name, valid in valid_messages()[:2]:
        decode_sparkplug(name, valid, T0, state)
    for name, payload in messages:
        out = decode_sparkplug(name, payload, T0, state)
        assert_storable(out.readings)
    assert state.host.counts["internal_error"] == 0
