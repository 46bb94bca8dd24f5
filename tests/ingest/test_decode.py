"""The edge decoder: every rejection reason, every timestamp form, batches with bad readings."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ingest.json_format as decode_module
from app.plant.file import load_plant
from ingest.decode import (
    Decoded,
    DecodedReading,
    Limits,
    PlantIndex,
    Reason,
    Rejection,
    decode,
)

NOW = datetime(2026, 11, 22, 2, 20, tzinfo=UTC)
INDEX = PlantIndex.from_plant(load_plant())
READING = "greenpulse/guian/el-grid-in-1/reading"
BATCH = "greenpulse/guian/gateway/gw-1/batch"


def one(
    payload: object, topic: str = READING, **kw: object
) -> tuple[list[DecodedReading], list[Rejection]]:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return decode(topic, raw, INDEX, NOW, **kw)  # type: ignore[arg-type]


def body(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "ts": "2026-11-22T10:15:00+08:00",
        "value": 12345.6,
        "unit": "kWh",
        "seq": 42,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


def reason_of(payload: object, topic: str = READING, **kw: object) -> str:
    readings, rejections = one(payload, topic, **kw)
    assert not readings
    assert len(rejections) == 1
    return rejections[0].reason


def test_the_documented_single_reading() -> None:
    readings, rejections = one(body())
    assert rejections == []
    assert readings == [
        DecodedReading.at(
            "guian", "el-grid-in-1", datetime(2026, 11, 22, 2, 15, tzinfo=UTC), 12345.6, "kWh", 42
        )
    ]


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        ("2026-11-22T10:15:00+08:00", datetime(2026, 11, 22, 2, 15, tzinfo=UTC)),
        ("2026-11-22T02:15:00Z", datetime(2026, 11, 22, 2, 15, tzinfo=UTC)),
        ("2026-11-22T02:15:00.250+00:00", datetime(2026, 11, 22, 2, 15, 0, 250000, tzinfo=UTC)),
        (1795313700, datetime(2026, 11, 22, 2, 15, tzinfo=UTC)),
        (1795313700.5, datetime(2026, 11, 22, 2, 15, 0, 500000, tzinfo=UTC)),
        (1795313700000, datetime(2026, 11, 22, 2, 15, tzinfo=UTC)),  # > 1e11: milliseconds
    ],
)
def test_timestamps_iso_epoch_seconds_and_milliseconds(ts: object, expected: datetime) -> None:
    readings, _ = one(body(ts=ts))
    assert readings[0].time == expected
    assert readings[0].time.tzinfo is UTC


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", Reason.MALFORMED_JSON),
        (b"\xff\xfe\x00garbage", Reason.MALFORMED_JSON),
        (b"[" * 100_000, Reason.MALFORMED_JSON),
        ([1, 2], Reason.INVALID_PAYLOAD),
        (body(ts=...), Reason.MISSING_FIELD),
        (body(value=...), Reason.MISSING_FIELD),
        (body(unit=...), Reason.MISSING_FIELD),
        (body(value="12"), Reason.WRONG_TYPE),
        (body(value=True), Reason.WRONG_TYPE),
        (body(unit=5), Reason.WRONG_TYPE),
        (body(ts=None), Reason.WRONG_TYPE),
        (body(seq="7"), Reason.WRONG_TYPE),
        (body(seq=2**31), Reason.SEQ_OUT_OF_RANGE),
        (body(seq=-1), Reason.SEQ_OUT_OF_RANGE),
        (body(unit="furlongs"), Reason.UNKNOWN_UNIT),
        (body(unit="mWh"), Reason.UNKNOWN_UNIT),
        (body(unit="m3"), Reason.UNIT_MISMATCH),
        (body(unit="kW"), Reason.UNIT_MISMATCH),
        (b'{"ts": 1795313700, "value": NaN, "unit": "kWh"}', Reason.NOT_FINITE),
        (b'{"ts": 1795313700, "value": Infinity, "unit": "kWh"}', Reason.NOT_FINITE),
        (b'{"ts": 1795313700, "value": 1e400, "unit": "kWh"}', Reason.NOT_FINITE),
        (body(value=10**400), Reason.NOT_FINITE),
        (body(value=-0.1), Reason.NEGATIVE_VALUE),
        (body(ts="yesterday"), Reason.BAD_TIMESTAMP),
        (body(ts="2026-11-22T10:15:00"), Reason.BAD_TIMESTAMP),  # no offset
        (body(ts=1e30), Reason.BAD_TIMESTAMP),
        (b'{"ts": NaN, "value": 1, "unit": "kWh"}', Reason.BAD_TIMESTAMP),
        (body(ts="2026-11-22T02:26:00Z"), Reason.FUTURE_TIMESTAMP),
        (body(ts="1999-12-31T23:59:59Z"), Reason.ANCIENT_TIMESTAMP),
        (body(ts=0), Reason.ANCIENT_TIMESTAMP),
    ],
)
def test_single_reading_rejections(payload: object, reason: Reason) -> None:
    assert reason_of(payload) == reason


def test_negative_power_is_rejected_too() -> None:
    assert reason_of(body(value=-3.0, unit="kW"), "greenpulse/guian/pv-inv-05/reading") == (
        Reason.NEGATIVE_VALUE
    )


def test_future_tolerance_is_configurable() -> None:
    ahead = body(ts="2026-11-22T02:30:00Z")
    assert reason_of(ahead) == Reason.FUTURE_TIMESTAMP
    readings, _ = one(ahead, limits=Limits(max_future=timedelta(minutes=15)))
    assert len(readings) == 1


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("greenpulse/nowhere/el-grid-in-1/reading", Reason.UNKNOWN_SITE),
        ("greenpulse/guian/no-such-meter/reading", Reason.UNKNOWN_METER),
        ("greenpulse/guian/el-grid-in-1/readings", Reason.UNKNOWN_TOPIC),
        ("greenpulse/guian/el-grid-in-1", Reason.UNKNOWN_TOPIC),
        ("spBv1.0/plant/DDATA/edge-1/meter-1", Reason.UNSUPPORTED_FORMAT),
    ],
)
def test_topic_rejections(topic: str, reason: Reason) -> None:
    assert reason_of(body(), topic) == reason


def test_meter_of_another_site() -> None:
    plant = load_plant()
    data = plant.model_dump(by_alias=True)
    other = dict(data["sites"][0], id="other")
    index = PlantIndex(sites=frozenset({"guian", "other"}), meters=INDEX.meters)
    del other, data
    _, rejections = decode(
        "greenpulse/other/el-grid-in-1/reading", json.dumps(body()).encode(), index, NOW
    )
    assert rejections[0].reason == Reason.SITE_MISMATCH


def test_oversized_payload_is_refused_before_parsing_and_kept_truncated() -> None:
    payload = json.dumps(body(pad="x" * 300_000)).encode()
    _, rejections = one(payload)
    assert rejections[0].reason == Reason.PAYLOAD_TOO_LARGE
    assert rejections[0].meter_id == "el-grid-in-1"
    assert len(rejections[0].payload) == Limits().stored_payload_bytes


def test_rejection_carries_topic_meter_detail_and_time() -> None:
    _, [rejection] = one(body(unit="m3"))
    assert rejection.topic == READING
    assert rejection.meter_id == "el-grid-in-1"
    assert "m3" in rejection.detail and "kWh" in rejection.detail
    assert rejection.received_at == NOW
    assert rejection.payload == json.dumps(body(unit="m3")).encode()


def test_unstorable_text_is_made_storable() -> None:
    long_meter = "m" * 300
    _, [rejection] = one(body(), f"greenpulse/guian/{long_meter}\x00/reading")
    assert "\x00" not in rejection.topic and "\x00" not in rejection.detail
    assert rejection.meter_id is not None and len(rejection.meter_id) <= 64
    _, [rejection] = one(body(), "greenpulse/" + "s" * 1000 + "/x/reading")
    assert len(rejection.topic) <= 512


def batch(*readings: object, **extra: object) -> dict[str, object]:
    return {"gateway": "gw-1", "readings": list(readings), **extra}


def item(meter: object = "el-grid-in-1", **changes: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "meter": meter,
        "ts": 1795313700,
        "value": 1.5,
        "unit": "kWh",
        "seq": 7,
    }
    entry.update(changes)
    return {k: v for k, v in entry.items() if v is not ...}


def test_batch_of_many_meters() -> None:
    readings, rejections = one(
        batch(item(), item("gas-boiler-01", unit="m3"), item("pv-inv-05", unit="kW")), BATCH
    )
    assert rejections == []
    assert [r.meter_id for r in readings] == ["el-grid-in-1", "gas-boiler-01", "pv-inv-05"]
    assert {r.site_id for r in readings} == {"guian"}


def test_one_bad_reading_in_a_batch_rejects_only_that_reading() -> None:
    bad = item(value=-1)
    readings, rejections = one(batch(item(), bad, item(ts=1795313760), "oops"), BATCH)
    assert len(readings) == 2
    assert [r.reason for r in rejections] == [Reason.NEGATIVE_VALUE, Reason.INVALID_PAYLOAD]
    first = rejections[0]
    assert first.detail.startswith("readings[1] of 4:")
    assert first.meter_id == "el-grid-in-1"
    assert json.loads(first.payload) == bad  # the slice, not the whole batch
    assert rejections[1].detail.startswith("readings[3] of 4:")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"gateway": "gw-1"}, Reason.MISSING_FIELD),
        ({"readings": {"meter": "x"}}, Reason.WRONG_TYPE),
        ({"gateway": 5, "readings": [item()]}, Reason.WRONG_TYPE),
        (batch(), Reason.EMPTY_BATCH),
        ("not an object", Reason.INVALID_PAYLOAD),
    ],
)
def test_batch_level_rejections(payload: object, reason: Reason) -> None:
    assert reason_of(payload, BATCH) == reason


def test_batch_readings_rejected_for_their_own_reasons() -> None:
    items = [
        item("nope"),
        item(meter=...),
        item(meter=7),
        item(unit="m3"),
        item(ts="2030-01-01T00:00:00Z"),
    ]
    _, rejections = one(batch(*items), BATCH)
    assert [r.reason for r in rejections] == [
        Reason.UNKNOWN_METER,
        Reason.MISSING_FIELD,
        Reason.WRONG_TYPE,
        Reason.UNIT_MISMATCH,
        Reason.FUTURE_TIMESTAMP,
    ]
    assert rejections[0].meter_id == "nope"


def test_too_many_readings_in_a_batch() -> None:
    assert reason_of(batch(*[item()] * 11), BATCH, limits=Limits(max_batch_readings=10)) == (
        Reason.BATCH_TOO_LARGE
    )
    compact = {"meter": "el-grid-in-1", "ts": 1795313700, "value": 1, "unit": "kWh"}
    assert reason_of(batch(*[compact] * 10_001), BATCH, limits=Limits(max_payload_bytes=2**20)) == (
        Reason.BATCH_TOO_LARGE
    )


def test_unknown_site_in_batch_topic() -> None:
    assert reason_of(batch(item()), "greenpulse/nowhere/gateway/gw-1/batch") == (
        Reason.UNKNOWN_SITE
    )


def test_custom_prefix() -> None:
    readings, _ = one(body(), "plant-a/guian/el-grid-in-1/reading", prefix="plant-a")
    assert len(readings) == 1
    assert reason_of(body(), READING, prefix="plant-a") == Reason.UNKNOWN_TOPIC


@given(st.binary(max_size=2000), st.sampled_from([READING, BATCH, "x/y", ""]))
def test_never_raises_on_any_bytes(payload: bytes, topic: str) -> None:
    readings, rejections = decode(topic, payload, INDEX, NOW)
    assert len(readings) + len(rejections) >= 1


@given(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30)
    ),
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30)),
)
def test_any_field_values_give_a_valid_reading_or_a_reason(ts: object, value: object) -> None:
    readings, rejections = one(body(ts=ts, value=value))
    if readings:
        reading = readings[0]
        assert math.isfinite(reading.raw_value) and reading.raw_value >= 0
        assert datetime(2000, 1, 1, tzinfo=UTC) <= reading.time <= NOW + timedelta(minutes=5)
    else:
        assert rejections[0].reason in set(Reason)


# --- the fast path for whole valid batches ------------------------------------------------------

valid_items = st.builds(
    lambda meter_unit, ts, value, seq: (
        {"meter": meter_unit[0], "ts": ts, "value": value, "unit": meter_unit[1]} | seq
    ),
    st.sampled_from(
        [
            ("el-comp-01", "kWh"),
            ("el-comp-01", " Wh"),
            ("gas-boiler-01", "m3"),
            ("pv-inv-01", "MWh"),
        ]
    ),
    st.one_of(
        st.integers(1_700_000_000_000, 1_795_314_300_000),  # epoch ms up to NOW + 5 min
        st.integers(946_684_800, 1_795_314_300),  # epoch s
        st.floats(946_684_800.0, 1_795_314_300.0),
        st.sampled_from(["2026-11-22T10:15:00+08:00", "2026-11-22T02:15:00.5Z"]),
    ),
    st.one_of(st.floats(0.0, 1e9), st.integers(0, 10**9)),
    st.one_of(st.just({}), st.builds(lambda n: {"seq": n}, st.integers(0, 2**31 - 1))),
)
defects = st.sampled_from(
    [
        ("meter", "nope"),
        ("meter", "el-grid-in-1"),  # kWh meter, fine with kWh units only
        ("meter", 7),
        ("unit", "parsecs"),
        ("unit", "kW"),
        ("ts", "2026-11-22T02:15:00"),  # no offset
        ("ts", "2026-11-22T05:15:00Z"),  # future
        ("ts", 1_795_314_300_001),  # just past the future limit
        ("ts", 946_684_799),  # 1999
        ("ts", True),
        ("ts", "soon"),
        ("ts", None),
        ("ts", 1e300),
        ("value", -0.001),
        ("value", math.nan),
        ("value", math.inf),
        ("value", False),
        ("value", "12"),
        ("value", 10**400),
        ("seq", -1),
        ("seq", 2**31),
        ("seq", True),
        ("seq", 1.5),
        ("meter", ...),
        ("ts", ...),
        ("value", ...),
        ("unit", ...),
    ]
)


def decoded_both_ways(items: list[dict]) -> tuple[Decoded, list[DecodedReading] | None]:  # type: ignore[type-arg]
    """(what ``decode`` gives, what its fast path gives), after checking that ``decode``
    gives the same with the fast path turned off."""
    raw = json.dumps({"gateway": "gw-1", "readings": items}).encode()
    decoded = decode(BATCH, raw, INDEX, NOW)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(decode_module, "_valid_batch", lambda *_: None)
        assert decode(BATCH, raw, INDEX, NOW) == decoded
    return decoded, decode_module._valid_batch(raw, "guian", _context(raw))


@settings(max_examples=200, deadline=None)
@given(st.lists(valid_items, min_size=1, max_size=8))
def test_the_fast_path_takes_every_clean_batch(items: list[dict]) -> None:  # type: ignore[type-arg]
    (readings, rejections), fast = decoded_both_ways(items)
    assert rejections == []
    assert fast == readings
    assert len(readings) == len(items)


@settings(max_examples=400, deadline=None)
@given(st.lists(valid_items, min_size=1, max_size=8), defects, st.data())
def test_the_fast_path_leaves_any_doubtful_batch_to_the_full_one(
    items: list[dict],  # type: ignore[type-arg]
    defect: tuple[str, object],
    data: st.DataObject,
) -> None:
    i = data.draw(st.integers(0, len(items) - 1))
    field, value = defect
    items[i] = {k: v for k, v in (items[i] | {field: value}).items() if v is not ...}
    (readings, rejections), fast = decoded_both_ways(items)
    assert fast is None or (fast == readings and not rejections)
    assert (len(readings), len(rejections)) in {(len(items), 0), (len(items) - 1, 1)}


def _context(raw: bytes) -> decode_module.Context:
    return decode_module.Context(BATCH, tuple(BATCH.split("/")), INDEX, NOW, Limits())


def test_a_batch_with_one_bad_reading_is_decoded_reading_by_reading() -> None:
    good = {"meter": "el-comp-01", "ts": 1_763_776_800_000, "value": 1.5, "unit": "kWh"}
    raw = json.dumps({"readings": [good, good | {"value": -1}]}).encode()
    assert decode_module._valid_batch(raw, "guian", _context(raw)) is None
    readings, rejections = decode(BATCH, raw, INDEX, NOW)
    assert len(readings) == 1
    assert [r.reason for r in rejections] == [Reason.NEGATIVE_VALUE]
