"""A small in-test edge node (payload builder) and the test plant's Sparkplug mapping."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any, Final

from app.plant.file import load_plant
from ingest.decode import PlantIndex
from ingest.sparkplug import HostState, SparkplugMapping, parse_mapping
from ingest.sparkplug.proto import DataType, Payload

GROUP: Final = "guian-plant"
NODE: Final = "substation-gw"
DEVICE: Final = "pm-1"
T0: Final = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
T0_MS: Final = int(T0.timestamp() * 1000)

SECTIONS: Final[dict[str, Any]] = {
    "guian": [
        {
            "group": GROUP,
            "edge_node": NODE,
            "metrics": {"Feeder/Gas": "gas-coating-oven"},
        },
        {
            "group": GROUP,
            "edge_node": NODE,
            "device": DEVICE,
            "metrics": {
                "Energy/Import": "el-grid-in-1",
                "Power/PV5": {"meter": "pv-inv-05", "unit": "W", "register": "instantaneous"},
            },
        },
        {  # the edge node of test_peer_tahu_py
            "group": GROUP,
            "edge_node": "tahu-py-gw",
            "device": DEVICE,
            "metrics": {
                "Energy/Import": "el-grid-in-2",
                "Power/PV5": {"meter": "pv-inv-06", "unit": "W"},
            },
        },
    ]
}


@cache
def mapping() -> SparkplugMapping:
    return parse_mapping(load_plant(), SECTIONS)


@cache
def plant_index() -> PlantIndex:
    return PlantIndex.from_plant(load_plant())


def host_state(**kwargs: Any) -> HostState:
    return HostState.create("greenpulse-test", plant_index(), mapping(), **kwargs)


def topic(kind: str, device: str | None = None, node: str = NODE) -> str:
    return f"spBv1.0/{GROUP}/{kind}/{node}" + (f"/{device}" if device else "")


class Edge:
    """Builds the payloads an edge node sends, keeping its ``seq`` and ``bdSeq``."""

    def __init__(self) -> None:
        self.seq = 0
        self.bdseq = 0

    def _payload(self, ts_ms: int, seq: int | None) -> Any:
        payload = Payload(timestamp=ts_ms)
        if seq is not None:
            payload.seq = seq
        return payload

    def next_seq(self) -> int:
        self.seq = (self.seq + 1) % 256
        return self.seq

    def nbirth(self, ts_ms: int = T0_MS) -> bytes:
        self.seq = 0
        payload = self._payload(ts_ms, 0)
        add(payload, "bdSeq", DataType.INT64, self.bdseq)
        add(payload, "Node Control/Rebirth", DataType.BOOLEAN, False)
        add(payload, "Feeder/Gas", DataType.DOUBLE, 120.5, alias=1)
        add(payload, "Diagnostics/CPU", DataType.FLOAT, 12.0, alias=2)
        return bytes(payload.SerializeToString())

    def ndeath(self, bdseq: int | None = None) -> bytes:
        payload = Payload(timestamp=T0_MS)
        add(payload, "bdSeq", DataType.INT64, self.bdseq if bdseq is None else bdseq)
        return bytes(payload.SerializeToString())

    def dbirth(self, ts_ms: int = T0_MS, energy: float = 1000.0) -> bytes:
        payload = self._payload(ts_ms, self.next_seq())
        add(payload, "Energy/Import", DataType.DOUBLE, energy, alias=10)
        add(payload, "Power/PV5", DataType.INT32, 2500, alias=11)
        add(payload, "Status/Text", DataType.STRING, "ok", alias=12)
        return bytes(payload.SerializeToString())

    def ddata(
        self, ts_ms: int, metrics: list[tuple[int, DataType, Any]], seq: int | None = -1
    ) -> bytes:
        payload = self._payload(ts_ms, self.next_seq() if seq == -1 else seq)
        for alias, kind, value in metrics:
            add(payload, None, kind, value, alias=alias)
        return bytes(payload.SerializeToString())

    def ddeath(self) -> bytes:
        return bytes(self._payload(T0_MS, self.next_seq()).SerializeToString())


def add(
    payload: Any,
    name: str | None,
    kind: DataType,
    value: Any,
    *,
    alias: int | None = None,
    timestamp_ms: int | None = None,
    historical: bool = False,
) -> Any:
    metric = payload.metrics.add()
    if name is not None:
        metric.name = name
        metric.datatype = kind
    if alias is not None:
        metric.alias = alias
    if timestamp_ms is not None:
        metric.timestamp = timestamp_ms
    if historical:
        metric.is_historical = True
    if value is None:
        metric.is_null = True
    elif kind in (DataType.FLOAT,):
        metric.float_value = value
    elif kind is DataType.DOUBLE:
        metric.double_value = value
    elif kind is DataType.BOOLEAN:
        metric.boolean_value = value
    elif kind in (DataType.STRING, DataType.TEXT):
        metric.string_value = value
    elif kind in (DataType.INT64, DataType.UINT64, DataType.DATETIME):
        metric.long_value = value % 2**64
    else:
        metric.int_value = value % 2**32
    return metric
