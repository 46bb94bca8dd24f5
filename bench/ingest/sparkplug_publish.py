"""The benchmark's readings as Sparkplug B: the simulator's edge node, DDATA by alias.

The demo plant file maps this layout (``simulator.sparkplug.mapping_sections``): group
``greenpulse-sim``, one edge node per site, one device per area, metric
``{resource}/{meter}``. NBIRTH and a DBIRTH per device (null values: births add no
readings), then DDATA of ``per_message`` readings of one device, by alias, each at its
own time, ``seq`` running on across the wrap.
"""

from __future__ import annotations

from collections import defaultdict

from app.plant.file import load_plant
from bench.ingest.publish import Point
from ingest.sparkplug.proto import DataType, Payload
from simulator.sparkplug import GROUP, SiteLayout

SUBSCRIPTION = "spBv1.0/#"


def sparkplug_messages(
    points: list[Point], per_message: int, *, plant_file: str | None = None
) -> list[tuple[str, bytes]]:
    plant = load_plant(plant_file)
    out: list[tuple[str, bytes]] = []
    by_site: dict[str, list[Point]] = defaultdict(list)
    for point in points:
        by_site[point.site_id].append(point)
    first_ms = int(min(p.time for p in points).timestamp() * 1000) if points else 0
    for site in plant.sites:
        layout = SiteLayout.from_site(site, GROUP)
        base = f"spBv1.0/{layout.group}"
        node = layout.edge_node
        seq = 0
        birth = Payload(timestamp=first_ms, seq=seq)
        for name, datatype, value in (("bdSeq", DataType.INT64, 0),):
            metric = birth.metrics.add()
            metric.name, metric.datatype, metric.long_value = name, datatype, value
        out.append((f"{base}/NBIRTH/{node}", birth.SerializeToString()))
        where: dict[str, tuple[str, int]] = {}
        for device, metrics in layout.devices.items():
            seq = (seq + 1) % 256
            dbirth = Payload(timestamp=first_ms, seq=seq)
            for m in metrics:
                metric = dbirth.metrics.add()
                metric.name, metric.alias, metric.datatype = m.name, m.alias, DataType.DOUBLE
                metric.is_null = True
                where[m.meter_id] = (device, m.alias)
            out.append((f"{base}/DBIRTH/{node}/{device}", dbirth.SerializeToString()))
        per_device: dict[str, list[Point]] = defaultdict(list)
        for point in by_site[site.id]:
            per_device[where[point.meter_id][0]].append(point)
        chunks = [
            (device, device_points[i : i + per_message])
            for device, device_points in per_device.items()
            for i in range(0, len(device_points), per_message)
        ]
        # oldest first across devices, as a gateway would send them
        chunks.sort(key=lambda c: c[1][0].time)
        for device, chunk in chunks:
            seq = (seq + 1) % 256
            payload = Payload(timestamp=int(chunk[-1].time.timestamp() * 1000), seq=seq)
            for p in chunk:
                metric = payload.metrics.add()
                metric.alias = where[p.meter_id][1]
                metric.timestamp = int(p.time.timestamp() * 1000)
                metric.double_value = p.value
            out.append((f"{base}/DDATA/{node}/{device}", payload.SerializeToString()))
    return out
