"""Tahu's Python edge node through Mosquitto into the real ingester process and PostgreSQL.

Births, DDATA by alias across the ``seq`` wrap, a deliberate gap answered by a rebirth,
an unknown alias, a SIGKILL of the ingester with DDATA queued meanwhile (resolved by the
births it kept), DDEATH (meters offline in ``meter_state``), the host's STATE and the
unmapped metrics: every value published is stored exactly once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from tahutils.tahu import sparkplug_b as tahu
from tahutils.tahu.sparkplug_b import MetricDataType

from app.plant.file import demo_plant_path
from ingest.broker import Mosquitto, free_port
from tests.ingest.conftest import Database, IngesterProcess, wait_until
from tests.ingest.sparkplug.support import DEVICE, GROUP, SECTIONS
from tests.ingest.sparkplug.test_peer_tahu_py import NODE, TahuPyEdgeNode

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]
HOST_ID = "gp-test-host"
MINUTE = 60_000


def plant_file(tmp_path: Path) -> Path:
    data = yaml.safe_load(demo_plant_path().read_text(encoding="utf-8"))
    for site in data["sites"]:
        if site["id"] in SECTIONS:
            site["sparkplug"] = SECTIONS[site["id"]]
    path = tmp_path / "plant.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


class QosNode(TahuPyEdgeNode):
    """Tahu's node publishing DDATA at QoS 1 (what the broker queues for an absent host)."""

    qos = 1

    def publish(self, kind: str, payload: object, device: bool) -> None:
        topic = f"spBv1.0/{GROUP}/{kind}/{NODE}" + (f"/{DEVICE}" if device else "")
        data = payload.SerializeToString()  # type: ignore[attr-defined]
        self.client.publish(topic, data, self.qos).wait_for_publish(5)

    def births(self) -> None:
        super().births()

    def ddata_unknown_alias(self, ts: int) -> None:
        payload = tahu.getDdataPayload()
        tahu.addMetric(payload, None, 99, MetricDataType.Double, 1.0, ts)
        self.publish("DDATA", payload, device=True)

    def nbirth_with_unmapped(self) -> None:
        """A rebirth that also offers a metric the plant file does not map."""
        ts = self.values["ts"]
        node = tahu.getNodeBirthPayload()
        tahu.addMetric(node, "Node Control/Rebirth", None, MetricDataType.Boolean, False)
        tahu.addMetric(node, "Cabinet/Temperature", 2, MetricDataType.Float, 31.5, ts)
        self.publish("NBIRTH", node, device=False)


def retained_state(port: int) -> bytes | None:
    got: list[bytes] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"gp-state-{free_port()}")
    client.on_message = lambda _c, _u, msg: got.append(msg.payload)
    client.connect("127.0.0.1", port)
    client.subscribe(f"spBv1.0/STATE/{HOST_ID}", 1)
    client.loop_start()
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        time.sleep(0.05)
    client.loop_stop()
    client.disconnect()
    return got[0] if got else None


def count(db: Database, meter: str) -> int:
    return int(str(db.query(f"SELECT count(*) FROM readings WHERE meter_id = '{meter}'")[0][0]))


def values(db: Database, meter: str) -> dict[int, float]:
    rows = db.query(
        "SELECT CAST(extract(epoch FROM time) * 1000 AS bigint), raw_value FROM readings "
        f"WHERE meter_id = '{meter}'"
    )
    return {int(str(t)): float(str(v)) for t, v in rows}


def test_tahu_python_node_through_the_real_ingester(
    mosquitto: Mosquitto,
    make_database: Callable[[str], Database],
    ingester_factory: Callable[..., IngesterProcess],
    tmp_path: Path,
) -> None:
    db = make_database("postgresql")
    env = {
        "plant_file": str(plant_file(tmp_path)),
        "sparkplug_host_id": HOST_ID,
        "ingest_batch_ms": "20",
    }
    ingester = ingester_factory(
        db, mosquitto, client_id="gp-sp-ingest", ingest_metrics_port=str(free_port()), **env
    )
    wait_until(lambda: _connected(ingester), 30, "the ingester to connect")
    assert retained_state(mosquitto.port) is not None, "the host publishes its STATE"
    peer = QosNode(mosquitto.port)
    try:
        base = int(time.time() * 1000) - 6 * 3_600_000
        peer.values["ts"] = base - MINUTE
        peer.births()
        sent: dict[int, tuple[float, int]] = {base - MINUTE: (0.0, 0)}
        for i in range(270):  # past seq 255
            ts = base + MINUTE * i
            sent[ts] = (500.0 + i, i * 3)
            peer.ddata(ts, *sent[ts])
        wait_until(lambda: count(db, "el-grid-in-2") == len(sent), 60, "270 DDATA stored")

        # a deliberate gap: one seq taken and never published; the host asks for a rebirth
        tahu.getSeqNum()
        ts = base + MINUTE * 270
        sent[ts] = (900.0, 1)
        peer.ddata(ts, *sent[ts])
        assert peer.rebirths.acquire(timeout=20), "the ingester never asked for a rebirth"
        wait_until(lambda: count(db, "el-grid-in-2") == len(sent), 30, "the gap's data")
        assert ingester.metric("greenpulse_ingest_sparkplug_commands_total") == 1

        time.sleep(0.5)  # the last batch's PUBACKs on their way
        # SIGKILL; DDATA queued by the broker meanwhile; a new process resolves their
        # aliases from the births the last commit kept (not sparkplug_before_birth)
        ingester.kill()
        for i in range(271, 281):
            ts = base + MINUTE * i
            sent[ts] = (500.0 + i, i)
            peer.ddata(ts, *sent[ts])
        ingester.start()
        wait_until(lambda: count(db, "el-grid-in-2") == len(sent), 60, "DDATA queued meanwhile")
        assert peer.rebirths.acquire(timeout=0.5) is False, "no rebirth needed after restart"

        # an unknown alias: a dead letter and a rebirth request
        peer.ddata_unknown_alias(base + MINUTE * 281)
        assert peer.rebirths.acquire(timeout=20), "unknown alias: no rebirth request"
        wait_until(
            lambda: _reasons(db).get("sparkplug_unknown_alias") == 1, 20, "the unknown alias"
        )

        # a metric the plant file does not map: counted and listed
        peer.nbirth_with_unmapped()
        # (Feeder/Gas of this node's NBIRTH is not mapped either)
        labels = f'{{device="",edge_node="{NODE}",group="{GROUP}",metric="Cabinet/Temperature"}}'
        wait_until(
            lambda: _metric(ingester, "greenpulse_ingest_sparkplug_unmapped" + labels) == 1,
            20,
            "the unmapped metric",
        )
        assert ingester.metric("greenpulse_ingest_sparkplug_unmapped_metrics") == 2
        listing = json.loads(
            (tmp_path / "gp-sp-ingest.journal.sparkplug-unmapped.json").read_text()
        )
        assert sorted(m["metric"] for m in listing["metrics"]) == [
            "Cabinet/Temperature",
            "Feeder/Gas",
        ]

        # DDEATH: its meters offline in meter_state at once
        peer.births()
        peer.ddeath()
        wait_until(lambda: len(_offline(db)) == 2, 20, "DDEATH in meter_state")
        assert sorted(_offline(db)) == ["el-grid-in-2", "pv-inv-06"]

        # every value exactly once, with its value
        assert count(db, "el-grid-in-2") == count(db, "pv-inv-06") == len(sent)
        assert values(db, "el-grid-in-2") == {t: v[0] for t, v in sent.items()}
        assert values(db, "pv-inv-06") == {t: float(v[1]) for t, v in sent.items()}
        reasons = _reasons(db)
        assert reasons == {"sparkplug_unknown_alias": 1}, reasons
        assert ingester.process is not None and ingester.process.poll() is None
    finally:
        peer.close()
    ingester.stop()
    state = retained_state(mosquitto.port)
    assert state is not None and b'"online": false' in state


def _connected(ingester: IngesterProcess) -> bool:
    return _metric(ingester, "greenpulse_ingest_mqtt_connected") == 1


def _metric(ingester: IngesterProcess, name: str) -> float | None:
    try:
        return ingester.metric(name)
    except (OSError, KeyError):
        return None


def _reasons(db: Database) -> dict[str, int]:
    rows = db.query("SELECT reason, count(*) FROM rejected_messages GROUP BY 1")
    return {str(r): int(str(n)) for r, n in rows}


def _offline(db: Database) -> list[str]:
    rows = db.query("SELECT meter_id FROM meter_state WHERE offline_since IS NOT NULL")
    return [str(r[0]) for r in rows]
