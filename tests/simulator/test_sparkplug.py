"""The simulator's Sparkplug edge node, decoded by the host: the same readings, exactly."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from app.config import Settings
from app.plant.file import load_plant
from ingest.broker import Mosquitto
from ingest.decode import PlantIndex
from ingest.sparkplug import EdgeNodeId, HostState, decode_sparkplug, parse_mapping
from ingest.sparkplug.proto import rebirth_request
from simulator.core import PlantSimulator
from simulator.options import SimOptions
from simulator.sparkplug import GROUP, SimEdgeNode, SiteLayout, mapping_sections, run_sparkplug
from tests.ingest.sparkplug.live import LiveHost

START = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)


def host_for_demo() -> HostState:
    plant = load_plant()
    mapping = parse_mapping(plant, mapping_sections(plant))
    return HostState.create("gp-sim-test", PlantIndex.from_plant(plant), mapping)


def test_every_simulated_reading_comes_out_of_the_host_as_sent() -> None:
    plant = load_plant()
    sim = PlantSimulator(plant, seed=3, start=START, options=SimOptions.clean())
    node = SimEdgeNode(SiteLayout.from_site(plant.sites[0]))
    state = host_for_demo()
    now = START + timedelta(hours=2)
    for topic, payload in node.births(int(START.timestamp() * 1000)):
        assert not decode_sparkplug(topic, payload, now, state).rejections
    readings = sim.advance(START + timedelta(hours=1))
    decoded = []
    for topic, payload in node.ddata(readings, int(sim.now.timestamp() * 1000)):
        out = decode_sparkplug(topic, payload, now, state)
        assert not out.rejections and not out.commands
        decoded.extend(out.readings)
    assert len(readings) > 100
    assert sorted((r.meter_id, r.time_us, r.raw_value, r.raw_unit) for r in decoded) == sorted(
        (r.meter_id, int(r.time.timestamp() * 1000) * 1000, r.value, r.unit) for r in readings
    )
    assert len(state.unmapped) == 0


def test_the_node_answers_a_rebirth_request_only() -> None:
    plant = load_plant()
    node = SimEdgeNode(SiteLayout.from_site(plant.sites[0]))
    ncmd = f"spBv1.0/{GROUP}/NCMD/{plant.sites[0].id}"
    assert node.wants_rebirth(ncmd, rebirth_request(1))
    assert not node.wants_rebirth(ncmd, b"\xff\xff")
    assert not node.wants_rebirth(f"spBv1.0/{GROUP}/NCMD/other", rebirth_request(1))


@pytest.mark.mqtt
async def test_live_edge_node_through_mosquitto(mosquitto: Mosquitto) -> None:
    state = host_for_demo()
    host = LiveHost(mosquitto.port, state)
    edge = EdgeNodeId(GROUP, load_plant().sites[0].id)
    stop = asyncio.Event()
    settings = Settings(mqtt_url=f"mqtt://127.0.0.1:{mosquitto.port}")
    task = asyncio.create_task(
        run_sparkplug(
            settings,
            load_plant(),
            speed=600,  # from two hours ago: simulated time stays behind the wall clock
            options=SimOptions.clean(),
            stop=stop,
            now=datetime.now(UTC) - timedelta(hours=2),
        )
    )
    try:
        await asyncio.to_thread(host.wait, "births", lambda h: h.state.host.node_online(edge))
        await asyncio.to_thread(host.wait, "data", lambda h: h.state.host.counts["DDATA"] > 3)
        host.client.publish(
            f"spBv1.0/{GROUP}/NCMD/{edge.edge_node}", rebirth_request(int(time.time() * 1000))
        )
        await asyncio.to_thread(host.wait, "rebirth", lambda h: h.state.host.counts["NBIRTH"] == 2)
        stop.set()
        stats = await asyncio.wait_for(task, 20)
        await asyncio.to_thread(host.wait, "NDEATH", lambda h: h.state.host.counts["NDEATH"] == 1)
    finally:
        stop.set()
        host.close()
    assert stats.rebirths == 1 and stats.readings > 0
    assert not host.rejections and host.state.host.counts["seq_gap"] == 0
    assert {r.meter_id for r in host.readings} >= {"el-grid-in-1", "pv-inv-05"}
    assert {e.meter_id for e in host.offline} == {m.id for m in load_plant().sites[0].meters}
