"""An edge node driven by Eclipse Tahu's Python core (``tahutils.tahu.sparkplug_b``: its
payload builders keep ``seq`` and ``bdSeq``) over paho, through a real Mosquitto."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from tahutils.tahu import sparkplug_b as tahu
from tahutils.tahu.sparkplug_b import MetricDataType

from ingest.broker import Mosquitto
from ingest.sparkplug import EdgeNodeId, MessageType
from tests.ingest.sparkplug.live import LiveHost
from tests.ingest.sparkplug.support import DEVICE, GROUP, host_state

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]
NODE = "tahu-py-gw"


class TahuPyEdgeNode:
    """Tahu's Python example edge node, reduced to the metrics the test plant maps."""

    def __init__(self, port: int) -> None:
        self.rebirths = threading.Semaphore(0)
        self.values: dict[str, Any] = {"gas": 0.0, "energy": 0.0, "power": 0, "ts": None}
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"tahu-py-{uuid.uuid4().hex[:8]}"
        )
        death = tahu.getNodeDeathPayload()  # first, as Tahu says: it sets the bdSeq
        self.client.will_set(f"spBv1.0/{GROUP}/NDEATH/{NODE}", death.SerializeToString(), 0)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(f"spBv1.0/{GROUP}/NCMD/{NODE}/#", qos=0)
        self.client.loop_start()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        payload = tahu.Payload.FromString(msg.payload)
        if any(m.name == "Node Control/Rebirth" and m.boolean_value for m in payload.metrics):
            self.births()
            self.rebirths.release()

    def publish(self, kind: str, payload: Any, device: bool) -> None:
        topic = f"spBv1.0/{GROUP}/{kind}/{NODE}" + (f"/{DEVICE}" if device else "")
        self.client.publish(topic, payload.SerializeToString(), 0).wait_for_publish(5)

    def births(self) -> None:
        ts = self.values["ts"]
        node = tahu.getNodeBirthPayload()
        tahu.addMetric(node, "Node Control/Rebirth", None, MetricDataType.Boolean, False)
        tahu.addMetric(node, "Feeder/Gas", 1, MetricDataType.Double, self.values["gas"], ts)
        self.publish("NBIRTH", node, device=False)
        device = tahu.getDeviceBirthPayload()
        tahu.addMetric(
            device, "Energy/Import", 10, MetricDataType.Double, self.values["energy"], ts
        )
        tahu.addMetric(device, "Power/PV5", 11, MetricDataType.Int32, self.values["power"], ts)
        self.publish("DBIRTH", device, device=True)

    def ddata(self, ts: int, energy: float, power: int) -> None:
        self.values.update(ts=ts, energy=energy, power=power)
        payload = tahu.getDdataPayload()
        tahu.addMetric(payload, None, 10, MetricDataType.Double, energy, ts)
        tahu.addMetric(payload, None, 11, MetricDataType.Int32, power, ts)
        self.publish("DDATA", payload, device=True)

    def ddeath(self) -> None:
        self.publish("DDEATH", tahu.getDdataPayload(), device=True)

    def ndeath(self) -> None:
        """A clean shutdown: the death certificate, then DISCONNECT."""
        death = tahu.Payload()
        tahu.addMetric(death, "bdSeq", None, MetricDataType.Int64, tahu.bdSeq - 1)
        self.publish("NDEATH", death, device=False)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_tahu_python_edge_node_through_mosquitto(mosquitto: Mosquitto) -> None:
    host = LiveHost(mosquitto.port, host_state(rebirth_holdoff=timedelta(0)))
    peer = TahuPyEdgeNode(mosquitto.port)
    edge = EdgeNodeId(GROUP, NODE)
    try:
        base = int(time.time() * 1000) - 6 * 3_600_000
        peer.values["ts"] = base - 60_000
        peer.births()
        host.wait("births", lambda h: h.state.host.device_online(edge, DEVICE))
        sent = {}
        for i in range(270):  # past seq 255
            ts = base + 60_000 * i
            sent[ts] = (500.0 + i, i * 3)
            peer.ddata(ts, *sent[ts])
        host.wait("270 DDATA", lambda h: base + 60_000 * 269 in h.values("el-grid-in-2"))
        assert host.state.host.counts["seq_gap"] == 0 and not host.commands
        assert not host.rejections
        energy, power = host.values("el-grid-in-2"), host.values("pv-inv-06")
        assert {t: energy[t] for t in sent} == {t: v[0] for t, v in sent.items()}
        assert {t: power[t] for t in sent} == {t: float(v[1]) for t, v in sent.items()}
        assert energy[base - 60_000] == 0.0  # the births' values are readings too

        # a deliberate gap: one seq taken and never published
        tahu.getSeqNum()
        ts = base + 60_000 * 270
        peer.ddata(ts, 900.0, 1)
        assert peer.rebirths.acquire(timeout=20), "the host never asked for a rebirth"
        host.wait("rebirth", lambda h: h.state.host.counts["NBIRTH"] == 2)
        assert host.commands == [f"spBv1.0/{GROUP}/NCMD/{NODE}"]
        assert host.values("el-grid-in-2")[ts] == 900.0
        peer.ddata(ts + 60_000, 901.0, 2)  # after the rebirth seq runs on from the NBIRTH
        host.wait("data after rebirth", lambda h: ts + 60_000 in h.values("el-grid-in-2"))
        assert host.state.host.counts["seq_gap"] == 1

        peer.ddeath()
        host.wait("DDEATH", lambda h: len(h.offline) == 2)
        assert sorted((e.meter_id, e.cause) for e in host.offline) == [
            ("el-grid-in-2", MessageType.DDEATH),
            ("pv-inv-06", MessageType.DDEATH),
        ]
        peer.ndeath()
        host.wait("NDEATH", lambda h: h.state.host.counts["NDEATH"] == 1)
        assert not host.state.host.node_online(edge)
        assert sorted(e.meter_id for e in host.offline[2:]) == ["el-grid-in-2", "pv-inv-06"]
        assert not host.rejections
    finally:
        peer.close()
        host.close()
