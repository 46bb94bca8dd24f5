"""The primary host through ``decode_sparkplug``: births, data by alias, seq, deaths, rebirth."""

from __future__ import annotations

import json
import math
from datetime import timedelta

from ingest.sparkplug import EdgeNodeId, HostState, MessageType, decode_sparkplug
from ingest.sparkplug.proto import REBIRTH_METRIC, DataType, Payload
from tests.ingest.sparkplug.support import DEVICE, GROUP, NODE, T0, T0_MS, Edge, host_state, topic


def born(edge: Edge | None = None) -> tuple[HostState, Edge]:
    state, edge = host_state(), edge or Edge()
    decode_sparkplug(topic("NBIRTH"), edge.nbirth(), T0, state)
    decode_sparkplug(topic("DBIRTH", DEVICE), edge.dbirth(), T0, state)
    return state, edge


def rebirth_targets(commands: list[object]) -> list[str]:
    out = []
    for command in commands:
        payload = Payload.FromString(command.payload)  # type: ignore[attr-defined]
        assert [(m.name, m.boolean_value) for m in payload.metrics] == [(REBIRTH_METRIC, True)]
        out.append(command.topic)  # type: ignore[attr-defined]
    return out


def test_births_are_readings_and_unmapped_metrics_are_listed() -> None:
    state, edge = host_state(), Edge()
    node = decode_sparkplug(topic("NBIRTH"), edge.nbirth(), T0, state)
    assert [(r.meter_id, r.raw_value, r.raw_unit, r.time) for r in node.readings] == [
        ("gas-coating-oven", 120.5, "m3", T0)
    ]
    device = decode_sparkplug(topic("DBIRTH", DEVICE), edge.dbirth(), T0, state)
    assert sorted((r.meter_id, r.raw_value, r.raw_unit) for r in device.readings) == [
        ("el-grid-in-1", 1000.0, "kWh"),
        ("pv-inv-05", 2500.0, "W"),
    ]
    assert not node.rejections and not device.rejections and not device.commands
    listed = [(m.device, m.name, m.datatype, m.count) for m in state.unmapped.listing()]
    assert listed == [
        (None, "Diagnostics/CPU", DataType.FLOAT, 1),
        (DEVICE, "Status/Text", DataType.STRING, 1),
    ]


def test_data_by_alias_and_seq_wrapping_past_255_needs_no_rebirth() -> None:
    state, edge = born()
    seen = []
    for step in range(300):  # seq runs 2..255, 0, 1, ... : a wrap, not a gap
        ts = T0_MS + 60_000 * (step + 1)
        out = decode_sparkplug(
            topic("DDATA", DEVICE),
            edge.ddata(ts, [(10, DataType.DOUBLE, 1000.0 + step)]),
            T0 + timedelta(minutes=step + 1),
            state,
        )
        assert not out.commands and not out.rejections
        seen.extend((r.meter_id, r.raw_value, r.time_us // 1000) for r in out.readings)
    assert seen == [("el-grid-in-1", 1000.0 + i, T0_MS + 60_000 * (i + 1)) for i in range(300)]
    assert state.host.counts["seq_gap"] == 0


def test_a_seq_gap_asks_for_rebirth_but_keeps_the_data() -> None:
    state, edge = born()
    edge.next_seq()  # the message with this seq is lost
    out = decode_sparkplug(
        topic("DDATA", DEVICE), edge.ddata(T0_MS + 1000, [(10, DataType.DOUBLE, 1001.0)]), T0, state
    )
    assert [r.raw_value for r in out.readings] == [1001.0]
    assert rebirth_targets(out.commands) == [f"spBv1.0/{GROUP}/NCMD/{NODE}"]
    # the next message follows the one received: no second request
    nxt = decode_sparkplug(
        topic("DDATA", DEVICE), edge.ddata(T0_MS + 2000, [(10, DataType.DOUBLE, 1002.0)]), T0, state
    )
    assert not nxt.commands and state.host.counts["seq_gap"] == 1


def test_an_unknown_alias_is_a_dead_letter_and_a_rebirth_request() -> None:
    state, edge = born()
    out = decode_sparkplug(
        topic("DDATA", DEVICE),
        edge.ddata(T0_MS + 1000, [(10, DataType.DOUBLE, 1001.0), (99, DataType.DOUBLE, 5.0)]),
        T0,
        state,
    )
    assert [r.raw_value for r in out.readings] == [1001.0]
    assert [(r.reason, r.detail) for r in out.rejections] == [
        ("sparkplug_unknown_alias", "alias 99: alias 99 not in birth")
    ]
    assert rebirth_targets(out.commands) == [f"spBv1.0/{GROUP}/NCMD/{NODE}"]


def test_an_alias_of_another_device_is_unknown_here() -> None:
    state, edge = born()
    out = decode_sparkplug(
        topic("NDATA"), edge.ddata(T0_MS + 1000, [(10, DataType.DOUBLE, 7.0)]), T0, state
    )
    assert [r.reason for r in out.rejections] == ["sparkplug_unknown_alias"]


def test_data_before_birth_asks_for_rebirth_at_most_once_per_holdoff() -> None:
    state, edge = host_state(rebirth_holdoff=timedelta(seconds=5)), Edge()
    edge.seq = 7
    payload = edge.ddata(T0_MS, [(10, DataType.DOUBLE, 1.0)])
    first = decode_sparkplug(topic("DDATA", DEVICE), payload, T0, state)
    again = decode_sparkplug(topic("DDATA", DEVICE), payload, T0 + timedelta(seconds=4), state)
    later = decode_sparkplug(topic("DDATA", DEVICE), payload, T0 + timedelta(seconds=6), state)
    assert [r.reason for r in first.rejections] == ["sparkplug_before_birth"]
    assert len(first.commands) == 1 and not again.commands and len(later.commands) == 1
    assert not first.readings


def test_device_data_before_its_dbirth_asks_for_rebirth() -> None:
    state, edge = host_state(), Edge()
    decode_sparkplug(topic("NBIRTH"), edge.nbirth(), T0, state)
    out = decode_sparkplug(
        topic("DDATA", "pm-9"), edge.ddata(T0_MS, [(10, DataType.DOUBLE, 1.0)]), T0, state
    )
    assert [r.reason for r in out.rejections] == ["sparkplug_before_birth"]
    assert rebirth_targets(out.commands) == [f"spBv1.0/{GROUP}/NCMD/{NODE}"]


def test_ndeath_takes_every_meter_of_the_node_offline_at_once() -> None:
    state, edge = born()
    out = decode_sparkplug(topic("NDEATH"), edge.ndeath(), T0 + timedelta(seconds=30), state)
    assert sorted((e.meter_id, e.cause, e.at) for e in out.offline) == [
        ("el-grid-in-1", MessageType.NDEATH, T0 + timedelta(seconds=30)),
        ("gas-coating-oven", MessageType.NDEATH, T0 + timedelta(seconds=30)),
        ("pv-inv-05", MessageType.NDEATH, T0 + timedelta(seconds=30)),
    ]
    assert not state.host.node_online(out.offline[0].node)


def test_an_ndeath_of_an_earlier_session_is_ignored() -> None:
    edge = Edge()
    edge.bdseq = 4
    state, edge = born(edge)
    out = decode_sparkplug(topic("NDEATH"), edge.ndeath(bdseq=3), T0, state)
    assert not out.offline and state.host.counts["stale_ndeath"] == 1
    data = decode_sparkplug(
        topic("DDATA", DEVICE), edge.ddata(T0_MS + 1, [(10, DataType.DOUBLE, 2.0)]), T0, state
    )
    assert [r.raw_value for r in data.readings] == [2.0]


def test_ddeath_takes_only_that_devices_meters_offline() -> None:
    state, edge = born()
    out = decode_sparkplug(topic("DDEATH", DEVICE), edge.ddeath(), T0, state)
    assert sorted(e.meter_id for e in out.offline) == ["el-grid-in-1", "pv-inv-05"]
    after = decode_sparkplug(
        topic("DDATA", DEVICE), edge.ddata(T0_MS + 1, [(10, DataType.DOUBLE, 2.0)]), T0, state
    )
    assert [r.reason for r in after.rejections] == ["sparkplug_before_birth"]


def test_a_rebirth_replaces_the_aliases() -> None:
    state, edge = born()
    decode_sparkplug(topic("NBIRTH"), edge.nbirth(), T0, state)
    out = decode_sparkplug(
        topic("DDATA", DEVICE), edge.ddata(T0_MS + 1, [(10, DataType.DOUBLE, 2.0)]), T0, state
    )
    assert [r.reason for r in out.rejections] == ["sparkplug_before_birth"]  # DBIRTH must follow


def test_historical_metrics_keep_their_own_times() -> None:
    from tests.ingest.sparkplug.support import add

    state, edge = born()
    payload = Payload(timestamp=T0_MS + 3_600_000, seq=edge.next_seq())
    add(
        payload,
        None,
        DataType.DOUBLE,
        990.0,
        alias=10,
        timestamp_ms=T0_MS - 600_000,
        historical=True,
    )
    add(payload, None, DataType.DOUBLE, 1005.0, alias=10)
    out = decode_sparkplug(
        topic("DDATA", DEVICE), payload.SerializeToString(), T0 + timedelta(hours=1), state
    )
    assert [(r.raw_value, r.time_us // 1000) for r in out.readings] == [
        (990.0, T0_MS - 600_000),
        (1005.0, T0_MS + 3_600_000),
    ]


def test_values_get_the_json_checks() -> None:
    state, edge = born()
    cases = [
        ((10, DataType.DOUBLE, -1.0), "negative_value"),
        ((10, DataType.DOUBLE, math.nan), "not_finite"),
        ((10, DataType.DOUBLE, math.inf), "not_finite"),
        ((11, DataType.INT32, -5), "negative_value"),  # two's complement on the wire
        ((10, DataType.STRING, "12.5"), "wrong_type"),  # the birth said Double
    ]
    for metric, reason in cases:
        out = decode_sparkplug(topic("DDATA", DEVICE), edge.ddata(T0_MS + 1, [metric]), T0, state)
        assert [(r.reason, r.meter_id) for r in out.rejections] == [
            (reason, "el-grid-in-1" if metric[0] == 10 else "pv-inv-05")
        ], metric
        assert not out.readings
    future = decode_sparkplug(
        topic("DDATA", DEVICE),
        edge.ddata(T0_MS + 6 * 60_000, [(10, DataType.DOUBLE, 1.0)]),
        T0,
        state,
    )
    assert [r.reason for r in future.rejections] == ["future_timestamp"]
    ancient = decode_sparkplug(
        topic("DDATA", DEVICE), edge.ddata(1000, [(10, DataType.DOUBLE, 1.0)]), T0, state
    )
    assert [r.reason for r in ancient.rejections] == ["ancient_timestamp"]


def test_a_null_is_no_value_and_no_dead_letter() -> None:
    state, edge = born()
    out = decode_sparkplug(
        topic("DDATA", DEVICE), edge.ddata(T0_MS + 1, [(10, DataType.DOUBLE, None)]), T0, state
    )
    assert not out.readings and not out.rejections
    assert state.host.counts["null_skipped"] == 1


def test_a_metric_without_any_timestamp_is_refused_not_stamped_on_arrival() -> None:
    from tests.ingest.sparkplug.support import add

    state, edge = born()
    payload = Payload(seq=edge.next_seq())
    add(payload, None, DataType.DOUBLE, 5.0, alias=10)
    out = decode_sparkplug(topic("DDATA", DEVICE), payload.SerializeToString(), T0, state)
    assert [r.reason for r in out.rejections] == ["bad_timestamp"]


def test_wire_faults_are_dead_letters() -> None:
    state = host_state()
    malformed = decode_sparkplug(topic("NBIRTH"), b"\xff\xff\xff\xff", T0, state)
    assert [r.reason for r in malformed.rejections] == ["malformed_protobuf"]
    bad_topic = decode_sparkplug("spBv1.0/g/NOPE/n", b"", T0, state)
    assert [r.reason for r in bad_topic.rejections] == ["unknown_topic"]
    huge = decode_sparkplug(topic("NDATA"), b"\x00" * (256 * 1024 + 1), T0, state)
    assert [(r.reason, len(r.payload)) for r in huge.rejections] == [("payload_too_large", 4096)]
    state_msg = decode_sparkplug("spBv1.0/STATE/other-host", b'{"online":true}', T0, state)
    assert not state_msg.rejections and not state_msg.readings


def test_the_host_state_messages() -> None:
    host = host_state().host
    online, will = host.state_online(T0_MS), host.state_will(T0_MS)
    assert online.topic == will.topic == "spBv1.0/STATE/greenpulse-test"
    assert json.loads(online.payload) == {"online": True, "timestamp": T0_MS}
    assert json.loads(will.payload) == {"online": False, "timestamp": T0_MS}
    assert (online.qos, online.retain, will.qos, will.retain) == (1, True, 1, True)


def test_births_cannot_grow_memory_without_bound() -> None:
    state, edge = born()
    state.host.max_metrics_per_node = 5  # NBIRTH 4 + DBIRTH 3 already: 7 names
    before = len(state.host._sessions[EdgeNodeId(GROUP, NODE)].names)
    out = decode_sparkplug(topic("DBIRTH", "pm-2"), edge.dbirth(), T0, state)
    assert [r.reason for r in out.rejections] == ["sparkplug_node_limit"] * 3
    assert len(state.host._sessions[EdgeNodeId(GROUP, NODE)].names) == before


def test_a_restarted_host_resolves_the_queued_data_from_its_snapshot() -> None:
    state, edge = born()
    for step in range(5):
        decode_sparkplug(
            topic("DDATA", DEVICE),
            edge.ddata(T0_MS + step, [(10, DataType.DOUBLE, 1.0)]),
            T0,
            state,
        )
    kept = state.snapshot()
    assert [t for t, _ in kept] == [topic("NBIRTH"), topic("DBIRTH", DEVICE)]
    edge.next_seq()  # messages the old process acknowledged before it stopped
    restarted = host_state()
    assert restarted.restore(kept, T0) == 2
    out = decode_sparkplug(
        topic("DDATA", DEVICE), edge.ddata(T0_MS + 99, [(10, DataType.DOUBLE, 7.0)]), T0, restarted
    )
    assert [r.raw_value for r in out.readings] == [7.0]
    assert not out.rejections and not out.commands
    gap = decode_sparkplug(
        topic("DDATA", DEVICE),
        edge.ddata(T0_MS + 100, [(10, DataType.DOUBLE, 8.0)], seq=(edge.seq + 2) % 256),
        T0,
        restarted,
    )
    assert len(gap.commands) == 1  # seq checking is back after the first message
    assert restarted.host.counts["NBIRTH"] == 0 and restarted.host.counts["restored_births"] == 2
