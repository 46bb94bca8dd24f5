"""Eclipse Tahu's JavaScript edge node (npm ``sparkplug-client``) through Mosquitto into
the real ingester process and PostgreSQL: every value it publishes stored exactly once."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ingest.broker import Mosquitto, free_port
from tests.ingest.conftest import Database, IngesterProcess, wait_until
from tests.ingest.sparkplug.support import GROUP, NODE
from tests.ingest.sparkplug.test_ingester_peer_py import (
    HOST_ID,
    _connected,
    _offline,
    _reasons,
    count,
    plant_file,
    values,
)
from tests.ingest.sparkplug.test_peer_tahu_js import JsEdgeNode, node_peer_ready

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]
MINUTE = 60_000
HOLDOFF_S = 5.5  # the host asks one edge node for a rebirth at most every 5 s


def test_tahu_js_node_through_the_real_ingester(
    mosquitto: Mosquitto,
    make_database: Callable[[str], Database],
    ingester_factory: Callable[..., IngesterProcess],
    tmp_path: Path,
) -> None:
    node_bin = node_peer_ready()
    db = make_database("postgresql")
    ingester = ingester_factory(
        db,
        mosquitto,
        client_id="gp-sp-js",
        ingest_metrics_port=str(free_port()),
        plant_file=str(plant_file(tmp_path)),
        sparkplug_host_id=HOST_ID,
        ingest_batch_ms="20",
    )
    wait_until(lambda: _connected(ingester), 30, "the ingester to connect")
    peer = JsEdgeNode(node_bin, mosquitto.port)
    try:
        peer.send("births")
        base = int(time.time() * 1000) - 6 * 3_600_000
        energy: dict[int, float] = {}
        power: dict[int, float] = {}
        for i in range(300):  # births take seq 0 and 1: this wraps past 255
            ts = base + MINUTE * i
            energy[ts], power[ts] = 1000.0 + i * 0.5, float(i * 10)
            peer.send("ddata", ts=ts, energy=energy[ts], power=int(power[ts]))
        # and the births' values at the node's start time (0 for each)
        wait_until(lambda: count(db, "pv-inv-05") == 301, 60, "300 DDATA and the births stored")
        (born,) = set(values(db, "pv-inv-05")) - set(power)
        energy[born] = power[born] = 0.0

        # a deliberate gap: a rebirth request, the node's births, the data kept
        peer.send("gap")
        ts = base + MINUTE * 300
        energy[ts], power[ts] = 1200.0, 5.0
        peer.send("ddata", ts=ts, energy=1200.0, power=5)
        peer.expect("rebirth")
        time.sleep(HOLDOFF_S)

        # an alias the births never named: a dead letter and another rebirth
        peer.send("unknown_alias", ts=ts + 1)
        peer.expect("rebirth")
        wait_until(lambda: _reasons(db) == {"sparkplug_unknown_alias": 1}, 20, "the dead letter")

        # historical data at its own time; node data by alias
        energy[base - 10 * MINUTE] = 990.0
        peer.send("history", ts=ts + 2, at=base - 10 * MINUTE, energy=990.0)
        peer.send("ndata", ts=ts + 3, gas=77.25)
        wait_until(lambda: count(db, "gas-coating-oven") == 3, 20, "the node's gas metric")

        # births repeat the latest values: the counts below prove nothing was stored twice
        wait_until(lambda: count(db, "el-grid-in-1") == len(energy), 20, "the historical value")
        assert values(db, "el-grid-in-1") == energy
        assert values(db, "pv-inv-05") == power
        # the rebirths' births carry the gas value (0) at the latest DDATA's time
        assert values(db, "gas-coating-oven") == {born: 0.0, ts: 0.0, ts + 3: 77.25}
        assert ingester.metric("greenpulse_ingest_sparkplug_commands_total") == 2

        # DDEATH: the device's meters offline; the will (NDEATH) after a crash: the rest
        peer.send("ddeath", ts=ts + 4)
        wait_until(lambda: len(_offline(db)) == 2, 20, "DDEATH in meter_state")
        assert sorted(_offline(db)) == ["el-grid-in-1", "pv-inv-05"]
        assert peer.proc.stdin is not None
        peer.proc.stdin.write(json.dumps({"op": "kill"}) + "\n")
        peer.proc.stdin.flush()
        wait_until(lambda: len(_offline(db)) == 3, 30, "the NDEATH will in meter_state")
        assert sorted(_offline(db)) == ["el-grid-in-1", "gas-coating-oven", "pv-inv-05"]
        assert _reasons(db) == {"sparkplug_unknown_alias": 1}
        assert ingester.process is not None and ingester.process.poll() is None
        listing = json.loads((tmp_path / "gp-sp-js.journal.sparkplug-unmapped.json").read_text())
        assert {(m["edge_node"], m["metric"]) for m in listing["metrics"]} == {
            (NODE, "Diagnostics/Uptime"),
            (NODE, "Status/Text"),
        }
        assert {m["group"] for m in listing["metrics"]} == {GROUP}
    finally:
        peer.close()
