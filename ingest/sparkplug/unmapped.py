"""What edge nodes offer that the plant file does not map: counted, listed, bounded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ingest.sparkplug.proto import DataType
from ingest.sparkplug.topic import EdgeNodeId


@dataclass(slots=True)
class UnmappedMetric:
    node: EdgeNodeId
    device: str | None
    name: str
    datatype: DataType
    count: int
    first_seen: datetime
    last_seen: datetime


class UnmappedMetrics:
    """Every unmapped (node, device, metric) seen, with a count; at most ``limit`` listed.

    Past the limit new names are still counted in ``overflow``, never dropped unseen.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self.total = 0
        self.overflow = 0
        self._seen: dict[tuple[EdgeNodeId, str | None, str], UnmappedMetric] = {}

    def saw(
        self, node: EdgeNodeId, device: str | None, name: str, datatype: DataType, at: datetime
    ) -> None:
        self.total += 1
        key = (node, device, name)
        entry = self._seen.get(key)
        if entry is not None:
            entry.count += 1
            entry.last_seen = at
        elif len(self._seen) < self.limit:
            self._seen[key] = UnmappedMetric(node, device, name, datatype, 1, at, at)
        else:
            self.overflow += 1

    def listing(self) -> list[UnmappedMetric]:
        """Sorted by group, edge node, device and metric name."""
        return sorted(
            self._seen.values(),
            key=lambda m: (m.node.group, m.node.edge_node, m.device or "", m.name),
        )

    def __len__(self) -> int:
        return len(self._seen)
