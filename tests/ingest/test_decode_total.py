"""The decoder is total: any bytes on any topic give readings and storable dead letters.

Property tests over raw bytes and hostile JSON, single readings and gateway batches,
through the decoder and then the writer on every backend: whatever the decoder
accepts or refuses, the writer stores in one commit.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app.db.models import ReadingRow, RejectedMessageRow
from app.plant.file import load_plant
from app.plant.sync import sync_plant
from ingest.decode import (
    DETAIL_MAX,
    MAX_VALUE,
    METER_ID_MAX,
    TOPIC_MAX,
    Limits,
    PlantIndex,
    Reason,
    Rejection,
    decode,
    reasons,
)
from ingest.writer import BatchWriter
from tests.conftest import Backend

PLANT = load_plant()
INDEX = PlantIndex.from_plant(PLANT)
NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
READING = "greenpulse/guian/el-comp-01/reading"
SCALED = "greenpulse/guian/el-grid-in-1/reading"  # multiplier 2000 in the demo plant
BATCH = "greenpulse/guian/gateway/gw-1/batch"
TOPICS = [
    READING,
    SCALED,
    BATCH,
    "greenpulse/guian/meter/foo",
    "greenpulse/nowhere/el-comp-01/reading",
    "greenpulse/guian/gateway/gw-1/batch/extra",
    "greenpulse",
    "greenpulse/",
    "spBv1.0/plant/NDATA/edge-1",
    "spBv1.0/plant/DDATA/edge-1/dev\u0000",
    "greenpulse/guian/\ud800/reading",
]


def assert_storable(rejection: Rejection) -> None:
    """What PostgreSQL and SQLite store without complaint."""
    for text in (rejection.topic, rejection.detail, rejection.meter_id or ""):
        assert "\x00" not in text
        text.encode("utf-8")  # no lone surrogate
    assert len(rejection.topic) <= TOPIC_MAX
    assert len(rejection.detail) <= DETAIL_MAX
    assert rejection.meter_id is None or len(rejection.meter_id) <= METER_ID_MAX
    assert isinstance(rejection.payload, bytes)
    assert rejection.reason in set(reasons())


def decoded(topic: str, payload: bytes) -> tuple[int, list[Rejection]]:
    readings, rejections = decode(topic, payload, INDEX, NOW)
    for rejection in rejections:
        assert_storable(rejection)
        assert rejection.reason != Reason.INTERNAL_ERROR, rejection.detail
    for r in readings:
        assert math.isfinite(r.raw_value) and r.raw_value >= 0
        assert NOW - timedelta(days=365 * 30) < r.time <= NOW + timedelta(minutes=5)
    # every message is accounted for: stored, refused, or one of our own topics
    assert readings or rejections or topic.endswith(("/live", "/alerts"))
    return len(readings), rejections


# --- hostile JSON -------------------------------------------------------------------------------

hostile_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["\ud800", "a\x00b", "\udfff\ud800", "kWh\x00", "\ufeffkWh", "k" * 5000]),
)
hostile_number = st.one_of(
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e306, -0.0, 5e-324, 2**63, -(2**63) - 1, 10**4000]),
)
hostile_ts = st.one_of(
    hostile_number,
    hostile_text,
    st.sampled_from(
        [
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "0001-01-01T00:00:00-14:00",
            "9999-12-31T23:59:59+14:00",
            "2026-11-22T02:15:00Z",
            "2026-11-22T10:15:00+08:00",
        ]
    ),
    st.datetimes(timezones=st.timezones()).map(lambda t: t.isoformat()),
)
hostile_value: st.SearchStrategy[Any] = st.one_of(
    hostile_number, hostile_text, st.none(), st.booleans(), st.lists(st.integers(), max_size=2)
)
meters = st.one_of(
    st.sampled_from(["el-comp-01", "el-grid-in-1", "gas-boiler-01", "pv-inv-01"]), hostile_text
)
units = st.one_of(st.sampled_from(["kWh", "Wh", "MWh", "m3", "kW", " kWh "]), hostile_text)


def entry(with_meter: bool) -> st.SearchStrategy[dict[str, Any]]:
    fields: dict[str, st.SearchStrategy[Any]] = {"ts": hostile_ts, "value": hostile_value}
    fields["unit"] = units
    optional: dict[str, st.SearchStrategy[Any]] = {"seq": hostile_number}
    if with_meter:
        fields["meter"] = meters
    return st.fixed_dictionaries(fields, optional=optional)


def dumps(value: object) -> bytes:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except ValueError:  # a huge int over the digit limit
        return b'{"ts": 1}'
    return text.encode("utf-8", "surrogatepass")  # lone surrogates as raw (invalid) UTF-8


def dumps_escaped(value: object) -> bytes:
    try:
        return json.dumps(value).encode()  # ensure_ascii: surrogates as \\ud800 escapes
    except ValueError:
        return b"{}"


payloads = st.one_of(
    entry(with_meter=False).map(dumps_escaped),
    entry(with_meter=False).map(dumps),
    st.lists(entry(with_meter=True), max_size=6).map(
        lambda items: dumps_escaped({"gateway": "gw-1", "readings": items})
    ),
    st.lists(entry(with_meter=True), max_size=6).map(
        lambda items: dumps({"gateway": "gw-1", "readings": items})
    ),
    st.binary(max_size=300),
    st.sampled_from(
        [
            "{}".encode("utf-16"),
            b"\xef\xbb\xbf{}",
            b"[" * 100_000,
            b'{"readings": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
            b'{"ts": ' + b"9" * 5000 + b"}",
        ]
    ),
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TOPICS), payloads)
def test_any_message_decodes_to_readings_and_storable_rejections(
    topic: str, payload: bytes
) -> None:
    decoded(topic, payload)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(TOPICS), st.binary(max_size=2000))
def test_any_bytes_decode(topic: str, payload: bytes) -> None:
    decoded(topic, payload)


# --- the cases that stopped ingestion -------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "body", "reason"),
    [
        (READING, {"ts": "0001-01-01T00:00:00+14:00", "value": 1, "unit": "kWh"}, "bad_timestamp"),
        (READING, {"ts": "9999-12-31T23:59:59-14:00", "value": 1, "unit": "kWh"}, "bad_timestamp"),
        (READING, {"ts": 10**399, "value": 1, "unit": "kWh"}, "bad_timestamp"),
        (READING, {"ts": "2026-11-22T02:00:00Z", "value": 10**400, "unit": "kWh"}, "not_finite"),
        (
            SCALED,
            {"ts": "2026-11-22T02:00:00Z", "value": 1e306, "unit": "MWh"},
            "value_out_of_range",
        ),
        (READING, {"ts": "2026-11-22T02:00:00Z", "value": 1, "unit": "kWh\x00"}, "invalid_text"),
        (READING, {"ts": "2026-11-22T02:00:00Z", "value": 1, "unit": "\ud800"}, "invalid_text"),
    ],
)
def test_each_hostile_value_has_its_reason(topic: str, body: dict[str, Any], reason: str) -> None:
    readings, rejections = decode(topic, dumps_escaped(body), INDEX, NOW)
    assert readings == []
    assert [r.reason for r in rejections] == [reason]
    assert_storable(rejections[0])


def test_a_batch_entry_with_a_surrogate_meter_is_refused_storably() -> None:
    good = {"meter": "el-comp-01", "ts": "2026-11-22T02:00:00Z", "value": 1, "unit": "kWh"}
    body = {"readings": [good, good | {"meter": "\ud800"}, good | {"meter": "x\x00" * 100}]}
    readings, rejections = decode(BATCH, dumps_escaped(body), INDEX, NOW)
    assert len(readings) == 1
    assert [r.reason for r in rejections] == ["invalid_text", "invalid_text"]
    assert rejections[0].meter_id == "\\ud800"
    assert rejections[1].meter_id is not None and len(rejections[1].meter_id) <= METER_ID_MAX
    for rejection in rejections:
        assert_storable(rejection)


def test_a_value_within_range_after_conversion_is_kept() -> None:
    limit_mwh = MAX_VALUE / 1000 / 2000  # MWh on a ×2000 kWh meter
    body = {"ts": "2026-11-22T02:00:00Z", "value": limit_mwh, "unit": "MWh"}
    readings, rejections = decode(SCALED, dumps_escaped(body), INDEX, NOW)
    assert (len(readings), rejections) == (1, [])
    body["value"] = limit_mwh * 1.001
    assert [r.reason for r in decode(SCALED, dumps_escaped(body), INDEX, NOW)[1]] == [
        "value_out_of_range"
    ]


@pytest.mark.parametrize(
    "payload",
    [
        json.dumps({"ts": "2026-11-22T02:00:00Z", "value": 1, "unit": "kWh"}).encode("utf-16"),
        json.dumps({"ts": "2026-11-22T02:00:00Z", "value": 1, "unit": "kWh"}).encode("utf-16-le"),
        json.dumps({"ts": "2026-11-22T02:00:00Z", "value": 1, "unit": "kWh"}).encode("utf-8-sig"),
        json.dumps({"ts": "2026-11-22T02:00:00Z", "value": 1, "unit": "kWh"}).encode("utf-32"),
    ],
)
def test_payloads_other_than_plain_utf8_are_malformed(payload: bytes) -> None:
    readings, rejections = decode(READING, payload, INDEX, NOW)
    assert readings == []
    assert [r.reason for r in rejections] == ["malformed_json"]


def test_the_decoder_turns_its_own_failure_into_a_dead_letter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ingest.json_format as decode_module

    def broken(*_: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(decode_module, "_known_meter", broken)
    readings, rejections = decode(READING, b"{}", INDEX, NOW)
    assert readings == []
    assert [r.reason for r in rejections] == ["internal_error"]
    assert "KeyError: 'a bug'" in rejections[0].detail
    assert "Traceback" in rejections[0].detail


# --- through the writer, on every backend -------------------------------------------------------


@pytest.fixture
def writer(clean_backend: Backend) -> BatchWriter:
    sync_plant(clean_backend.factory, PLANT)
    return BatchWriter(clean_backend.factory, PLANT, clean_backend.storage)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.tuples(st.sampled_from(TOPICS), payloads), min_size=1, max_size=6))
def test_whatever_is_decoded_is_stored_in_one_commit(
    clean_backend: Backend, writer: BatchWriter, messages: list[tuple[str, bytes]]
) -> None:
    with clean_backend.factory() as session:
        before = session.scalar(select(func.count()).select_from(RejectedMessageRow)) or 0
        stored_before = session.scalar(select(func.count()).select_from(ReadingRow)) or 0
    readings, rejections = [], []
    for topic, payload in messages:
        r, j = decode(topic, payload, INDEX, NOW)
        readings += r
        rejections += j
    result = writer.write(readings, rejections, now=NOW)
    with clean_backend.factory() as session:
        after = session.scalar(select(func.count()).select_from(RejectedMessageRow)) or 0
        stored_after = session.scalar(select(func.count()).select_from(ReadingRow)) or 0
    assert after - before == len(rejections) == result.rejected
    assert stored_after - stored_before == result.written
    assert result.written + result.duplicates == len(readings)


def test_the_batch_limit_is_reachable_within_the_payload_limit() -> None:
    limits = Limits()
    entry = {
        "meter": "el-grid-in-1",
        "ts": "2026-11-22T10:15:00.123+08:00",
        "value": 12345.678,
        "unit": "kWh",
        "seq": 1234567,
    }
    items = [
        entry | {"ts": f"2026-11-22T02:{i // 60 % 60:02d}:{i % 60:02d}Z"}
        for i in range(limits.max_batch_readings)
    ]
    payload = json.dumps({"gateway": "gateway-with-a-long-name", "readings": items}).encode()
    assert len(payload) <= limits.max_payload_bytes
    readings, rejections = decode(BATCH, payload, INDEX, NOW)
    assert (len(readings), rejections) == (limits.max_batch_readings, [])
    one_more = json.dumps({"readings": [*items, entry]}).encode()
    assert [r.reason for r in decode(BATCH, one_more, INDEX, NOW)[1]] == ["batch_too_large"]
