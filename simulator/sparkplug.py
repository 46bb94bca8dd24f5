"""The simulated plant as a Sparkplug B 3.0 edge node: one node per site, one device per area.

``SimEdgeNode`` builds the messages (pure: payload bytes, ``seq`` and ``bdSeq`` kept,
time passed in); ``run_sparkplug`` publishes them live: the NDEATH as MQTT will,
NBIRTH and a DBIRTH per area with aliases, DDATA by alias, and new births whenever
an ``NCMD`` asks for ``Node Control/Rebirth``. ``mapping_sections`` is the plant
file's ``sparkplug:`` section that maps what this node publishes back to meters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import aiomqtt
from tahutils.tahu import sparkplug_b_pb2

from app.config import Settings
from app.domain.plant import Plant, Site
from app.mqtt import client_kwargs
from simulator.core import PlantSimulator
from simulator.meters import SimReading
from simulator.options import SimOptions

logger = logging.getLogger(__name__)

GROUP: Final = "greenpulse-sim"
REBIRTH: Final = "Node Control/Rebirth"
_INT64, _DOUBLE, _BOOLEAN = 4, 10, 11  # Sparkplug datatypes
LIVE_STEP_S: Final = 1.0


@dataclass(frozen=True, slots=True)
class SimMetric:
    name: str
    alias: int
    meter_id: str


@dataclass(frozen=True)
class SiteLayout:
    """What one site's edge node publishes: devices (areas) and their metrics."""

    group: str
    edge_node: str
    devices: dict[str, tuple[SimMetric, ...]]

    @classmethod
    def from_site(cls, site: Site, group: str = GROUP) -> SiteLayout:
        devices: dict[str, list[SimMetric]] = defaultdict(list)
        for alias, meter in enumerate(site.meters, start=1):
            devices[meter.area].append(
                SimMetric(f"{meter.resource.value}/{meter.id}", alias, meter.id)
            )
        return cls(group, site.id, {area: tuple(m) for area, m in devices.items()})


def mapping_sections(plant: Plant, group: str = GROUP) -> dict[str, list[dict[str, Any]]]:
    """The ``sparkplug:`` sections (by site id) mapping the simulator's metrics to meters."""
    sections: dict[str, list[dict[str, Any]]] = {}
    for site in plant.sites:
        layout = SiteLayout.from_site(site, group)
        sections[site.id] = [
            {
                "group": layout.group,
                "edge_node": layout.edge_node,
                "device": device,
                "metrics": {m.name: m.meter_id for m in metrics},
            }
            for device, metrics in layout.devices.items()
        ]
    return sections


@dataclass
class SimEdgeNode:
    """One site's edge node: the Sparkplug messages it sends, in order."""

    layout: SiteLayout
    bdseq: int = 0
    seq: int = 0
    last: dict[str, tuple[float, int]] = field(default_factory=dict)  # meter -> (value, ms)
    rebirths: int = 0

    def _topic(self, kind: str, device: str | None = None) -> str:
        node = f"spBv1.0/{self.layout.group}/{kind}/{self.layout.edge_node}"
        return node if device is None else f"{node}/{device}"

    def _next_seq(self) -> int:
        self.seq = (self.seq + 1) % 256
        return self.seq

    def will(self) -> tuple[str, bytes]:
        """The NDEATH of the session about to connect (its ``bdSeq``)."""
        payload = sparkplug_b_pb2.Payload()
        _metric(payload, "bdSeq", None, _INT64, self.bdseq)
        return self._topic("NDEATH"), payload.SerializeToString()

    def births(self, now_ms: int) -> list[tuple[str, bytes]]:
        """NBIRTH then a DBIRTH per device, every metric named, aliased and typed."""
        self.seq = 0
        node = sparkplug_b_pb2.Payload(timestamp=now_ms, seq=0)
        _metric(node, "bdSeq", None, _INT64, self.bdseq)
        _metric(node, REBIRTH, None, _BOOLEAN, False)
        out = [(self._topic("NBIRTH"), node.SerializeToString())]
        for device, metrics in self.layout.devices.items():
            birth = sparkplug_b_pb2.Payload(timestamp=now_ms, seq=self._next_seq())
            for m in metrics:
                value, at = self.last.get(m.meter_id, (math.nan, now_ms))
                metric = _metric(
                    birth, m.name, m.alias, _DOUBLE, None if math.isnan(value) else value
                )
                metric.timestamp = at
            out.append((self._topic("DBIRTH", device), birth.SerializeToString()))
        return out

    def ddata(self, readings: Iterable[SimReading], now_ms: int) -> list[tuple[str, bytes]]:
        """One DDATA per device with readings, by alias, each value at its own time."""
        by_meter = {
            m.meter_id: (device, m) for device, ms in self.layout.devices.items() for m in ms
        }
        per_device: dict[str, list[tuple[SimMetric, SimReading]]] = defaultdict(list)
        for reading in readings:
            where = by_meter.get(reading.meter_id)
            if where is not None:
                per_device[where[0]].append((where[1], reading))
        out = []
        for device, items in per_device.items():
            payload = sparkplug_b_pb2.Payload(timestamp=now_ms, seq=self._next_seq())
            for sim_metric, reading in items:
                at = int(reading.time.timestamp() * 1000)
                metric = _metric(payload, None, sim_metric.alias, _DOUBLE, reading.value)
                metric.timestamp = at
                if reading.sent_at > reading.time + timedelta(minutes=5):
                    metric.is_historical = True  # store-and-forward: sent late
                self.last[reading.meter_id] = (reading.value, at)
            out.append((self._topic("DDATA", device), payload.SerializeToString()))
        return out

    def wants_rebirth(self, topic: str, payload: bytes) -> bool:
        if topic != self._topic("NCMD"):
            return False
        try:
            command = sparkplug_b_pb2.Payload.FromString(payload)
        except Exception:  # a hostile command is no command
            return False
        return any(m.name == REBIRTH and m.boolean_value for m in command.metrics)


def _metric(payload: Any, name: str | None, alias: int | None, datatype: int, value: Any) -> Any:
    metric = payload.metrics.add()
    if name is not None:
        metric.name = name
        metric.datatype = datatype
    if alias is not None:
        metric.alias = alias
    if value is None:
        metric.is_null = True
    elif datatype == _INT64:
        metric.long_value = value
    elif datatype == _BOOLEAN:
        metric.boolean_value = value
    else:
        metric.double_value = value
    return metric


@dataclass(frozen=True)
class SparkplugRunStats:
    readings: int
    messages: int
    rebirths: int


async def run_sparkplug(
    settings: Settings,
    plant: Plant,
    *,
    speed: float = 1.0,
    seed: int = 0,
    options: SimOptions | None = None,
    stop: asyncio.Event | None = None,
    duration_s: float | None = None,
    group: str = GROUP,
    now: datetime | None = None,
) -> SparkplugRunStats:
    """Publish a one-site plant live as a Sparkplug edge node until ``stop`` or the duration."""
    stop = stop or asyncio.Event()
    origin = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    sim = PlantSimulator(plant, seed=seed, start=origin, options=options)
    nodes = [SimEdgeNode(SiteLayout.from_site(site, group)) for site in plant.sites]
    if len(nodes) != 1:
        raise ValueError("the Sparkplug simulator publishes one site (one MQTT will per client)")
    node = nodes[0]
    will_topic, will_payload = node.will()
    client = aiomqtt.Client(
        **client_kwargs(settings),
        identifier=f"greenpulse-sparkplug-{uuid.uuid4().hex[:8]}",
        will=aiomqtt.Will(will_topic, will_payload, qos=1, retain=False),
    )
    readings = messages = 0
    began = time.monotonic()
    async with client:
        await client.subscribe(f"spBv1.0/{group}/NCMD/{node.layout.edge_node}", qos=1)
        lock = asyncio.Lock()  # births and data never interleave: DDATA needs its DBIRTH first
        messages += await _publish(client, node.births(_ms(sim.now)))
        listener = asyncio.create_task(_rebirths(client, node, sim, lock))
        try:
            while not stop.is_set():
                elapsed = time.monotonic() - began
                if duration_s is not None and elapsed >= duration_s:
                    break
                target = origin + timedelta(seconds=elapsed * speed)
                batch = sim.advance(max(sim.now, target))
                readings += len(batch)
                async with lock:
                    messages += await _publish(client, node.ddata(batch, _ms(sim.now)))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), LIVE_STEP_S)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        await _publish(client, [node.will()])  # a clean stop: the death certificate ourselves
    return SparkplugRunStats(readings, messages, node.rebirths)


async def _rebirths(
    client: aiomqtt.Client, node: SimEdgeNode, sim: PlantSimulator, lock: asyncio.Lock
) -> None:
    async for message in client.messages:
        payload = message.payload if isinstance(message.payload, bytes) else b""
        if node.wants_rebirth(str(message.topic), payload):
            logger.info("rebirth requested on %s", message.topic)
            async with lock:
                node.rebirths += 1
                await _publish(client, node.births(_ms(sim.now)))


async def _publish(client: aiomqtt.Client, items: Sequence[tuple[str, bytes]]) -> int:
    for topic, payload in items:
        await client.publish(topic, payload, qos=1)
    return len(items)


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


async def run_sparkplug_plant(
    settings: Settings,
    plant: Plant,
    *,
    speed: float = 1.0,
    seed: int = 0,
    options: SimOptions | None = None,
    stop: asyncio.Event | None = None,
    duration_s: float | None = None,
    group: str = GROUP,
) -> SparkplugRunStats:
    """Every site of the plant as its own edge node (its own connection and will), at once.

    What ``greenpulse simulate --sparkplug`` runs; the plant file's ``sparkplug:``
    sections (``mapping_sections``) map it back to the meters.
    """
    stop = stop or asyncio.Event()
    runs = [
        run_sparkplug(
            settings,
            plant.model_copy(update={"sites": (site,)}),
            speed=speed,
            seed=seed + index,
            options=options,
            stop=stop,
            duration_s=duration_s,
            group=group,
        )
        for index, site in enumerate(plant.sites)
    ]
    results = await asyncio.gather(*runs)
    return SparkplugRunStats(
        sum(r.readings for r in results),
        sum(r.messages for r in results),
        sum(r.rebirths for r in results),
    )
