"""An edge node driven by Eclipse Tahu's JavaScript client (npm ``sparkplug-client``,
Node.js 20) publishing through a real Mosquitto to a live host."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ingest.broker import Mosquitto
from ingest.sparkplug import EdgeNodeId, MessageType
from tests.conftest import require
from tests.ingest.sparkplug.live import LiveHost
from tests.ingest.sparkplug.support import DEVICE, GROUP, NODE, host_state

PEER = Path(__file__).resolve().parents[2] / "peers" / "tahu_js"
pytestmark = [pytest.mark.mqtt, pytest.mark.slow]


def node_peer_ready() -> str:
    """The ``node`` binary, with the peer's npm packages installed (``npm ci``)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        require("Node.js", "the Tahu JavaScript edge node runs on Node.js 20 with npm")
    assert node is not None and npm is not None
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    if not version.stdout.startswith("v2"):
        require("Node.js 20", f"found {version.stdout.strip()}")
    if not (PEER / "node_modules" / "sparkplug-client").is_dir():
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            check=False,
            cwd=PEER,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            require("npm sparkplug-client", f"npm ci failed: {result.stderr[-500:]}")
    return node


class JsEdgeNode:
    def __init__(self, node: str, port: int) -> None:
        self.proc = subprocess.Popen(
            [node, "edge_node.js", f"mqtt://127.0.0.1:{port}", GROUP, NODE, DEVICE],
            cwd=PEER,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.events: list[dict[str, Any]] = []
        self.expect("connected")

    def expect(self, event: str, timeout_s: float = 20.0) -> dict[str, Any]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"the edge node exited ({self.proc.poll()}) before {event!r}")
            message = json.loads(line)
            self.events.append(message)
            if message["event"] == event:
                return message
        raise AssertionError(f"no {event!r} from the edge node in {timeout_s} s")

    def send(self, op: str, **args: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        self.expect("ok")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def js_node(mosquitto: Mosquitto) -> Iterator[JsEdgeNode]:
    node = node_peer_ready()
    peer = JsEdgeNode(node, mosquitto.port)
    try:
        yield peer
    finally:
        peer.close()


def test_tahu_js_edge_node_through_mosquitto(mosquitto: Mosquitto) -> None:
    node_bin = node_peer_ready()
    host = LiveHost(mosquitto.port, host_state(rebirth_holdoff=timedelta(0)))
    peer = JsEdgeNode(node_bin, mosquitto.port)
    edge = EdgeNodeId(GROUP, NODE)
    try:
        peer.send("births")
        host.wait("births", lambda h: h.state.host.device_online(edge, DEVICE))
        base = int(time.time() * 1000) - 6 * 3_600_000
        sent: dict[int, tuple[float, float]] = {}
        for i in range(300):  # births take seq 0 and 1: this wraps past 255
            ts = base + 60_000 * i
            sent[ts] = (1000.0 + i * 0.5, float(i * 10))
            peer.send("ddata", ts=ts, energy=sent[ts][0], power=int(sent[ts][1]))
        host.wait("300 DDATA", lambda h: base + 60_000 * 299 in h.values("el-grid-in-1"))
        counts = host.state.host.counts
        assert counts["DDATA"] == 300 and counts["seq_gap"] == 0 and not host.commands
        assert not host.rejections
        energy, power = host.values("el-grid-in-1"), host.values("pv-inv-05")
        assert {t: energy[t] for t in sent} == {t: v[0] for t, v in sent.items()}
        assert {t: power[t] for t in sent} == {t: v[1] for t, v in sent.items()}
        assert {r.raw_unit for r in host.readings if r.meter_id == "pv-inv-05"} == {"W"}

        # a deliberate gap: the host asks for a rebirth and the node answers with births
        peer.send("gap")
        ts = base + 60_000 * 300
        peer.send("ddata", ts=ts, energy=1200.0, power=5)
        peer.expect("rebirth")
        host.wait("rebirth", lambda h: h.state.host.counts["NBIRTH"] == 2)
        assert host.commands == [f"spBv1.0/{GROUP}/NCMD/{NODE}"]
        assert host.values("el-grid-in-1")[ts] == 1200.0  # the data after the gap is kept

        # an alias the births never named: a dead letter and another rebirth
        peer.send("unknown_alias", ts=ts + 1)
        peer.expect("rebirth")
        host.wait("second rebirth", lambda h: h.state.host.counts["NBIRTH"] == 3)
        assert [r.reason for r in host.rejections] == ["sparkplug_unknown_alias"]

        # historical data keeps its own time; node data by alias
        peer.send("history", ts=ts + 2, at=base - 600_000, energy=990.0)
        peer.send("ndata", ts=ts + 3, gas=77.25)
        host.wait("history and gas", lambda h: ts + 3 in h.values("gas-coating-oven"))
        assert host.values("el-grid-in-1")[base - 600_000] == 990.0
        assert host.values("gas-coating-oven")[ts + 3] == 77.25

        # DDEATH: the device's meters at once; the will (NDEATH) after a crash: the rest
        peer.send("ddeath", ts=ts + 4)
        host.wait("DDEATH", lambda h: len(h.offline) == 2)
        assert sorted((e.meter_id, e.cause) for e in host.offline) == [
            ("el-grid-in-1", MessageType.DDEATH),
            ("pv-inv-05", MessageType.DDEATH),
        ]
        assert host.state.host.node_online(edge)
        peer.proc.stdin.write(json.dumps({"op": "kill"}) + "\n")  # type: ignore[union-attr]
        peer.proc.stdin.flush()  # type: ignore[union-attr]
        host.wait("NDEATH will", lambda h: h.state.host.counts["NDEATH"] == 1, timeout_s=30)
        assert not host.state.host.node_online(edge)
        assert sorted(e.meter_id for e in host.offline[2:]) == [
            "el-grid-in-1",
            "gas-coating-oven",
            "pv-inv-05",
        ]
        unmapped = {(m.device, m.name) for m in host.state.unmapped.listing()}
        assert unmapped == {(None, "Diagnostics/Uptime"), (DEVICE, "Status/Text")}
    finally:
        peer.close()
        host.close()
