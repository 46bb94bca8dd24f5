"""Exact additive corrections to the rollup buckets of one batch.

A reading's interval quantity is spread over the 15-minute UTC buckets and
site-local days its interval spans (``app.db.rollups.spread``); it counts as one sample in the
buckets where it ends. A batch's corrections are summed here and written as
one upsert per bucket.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from app.db.rollups import DAY, FIFTEEN, bucket_end, bucket_starts, buckets, spread
from app.domain.periods import BUCKET_US, day_starts_us
from app.domain.register_runs import from_micros
from app.domain.registers import Quality

_ESTIMATED = int(Quality.ESTIMATED)  # plain int: IntFlag arithmetic is slow on the hot path


@dataclass(frozen=True, slots=True)
class RunBuckets:
    """What the rollups need of one meter's run of readings."""

    meter_id: str
    zone: ZoneInfo
    start: int
    stop: int


class RollupDeltas:
    """Sums of quantity, samples and estimated samples per (meter, resolution, bucket)."""

    def __init__(self) -> None:
        self._acc: dict[tuple[str, str, datetime], list[float]] = defaultdict(lambda: [0.0, 0, 0])
        # the bucket and day windows of the last interval seen per meter: consecutive
        # readings mostly share them (used by the reading-at-a-time path)
        self._last: dict[str, tuple[datetime, datetime, list[float], list[float]]] = {}

    def add(
        self,
        meter_id: str,
        zone: ZoneInfo,
        start: datetime,
        time: datetime,
        quantity: float | None,
        quality: int,
        sign: int = 1,
    ) -> None:
        """Add (or with ``sign=-1`` take back) the quantity of one interval ``(start, time]``."""
        if quantity is None:
            return
        estimated = sign if quality & _ESTIMATED else 0
        last = self._last.get(meter_id)
        if last is not None and last[0] <= start and time <= last[1]:
            # (start, time] lies inside the window both of last's buckets cover
            for acc in (last[2], last[3]):
                acc[0] += sign * quantity
                acc[1] += sign
                acc[2] += estimated
            return
        for resolution, bucket, share in spread(start, time, quantity, zone):
            self._acc[(meter_id, resolution, bucket)][0] += sign * share
        hour, day = buckets(time, zone)
        hour_acc, day_acc = self._acc[(meter_id, FIFTEEN, hour)], self._acc[(meter_id, DAY, day)]
        for acc in (hour_acc, day_acc):
            acc[1] += sign
            acc[2] += estimated
        # a 15-minute bucket never straddles a local day
        self._last[meter_id] = (hour, bucket_end(hour), hour_acc, day_acc)

    def add_runs(
        self,
        runs: Sequence[RunBuckets],
        since_us: NDArray[np.int64],
        time_us: NDArray[np.int64],
        quantity: NDArray[np.float64],
        quality: NDArray[np.int64],
    ) -> None:
        """Add the intervals ``(since, time]`` of many meters' runs at once.

        The arrays hold the runs back to back, each in time order; NaN quantities
        (unknown) add nothing, as in ``add``.
        """
        n = len(time_us)
        if n == 0:
            return
        lengths = np.fromiter((run.stop - run.start for run in runs), np.intp, len(runs))
        meter_at = np.repeat(np.arange(len(runs)), lengths)
        zones: dict[ZoneInfo, int] = {}
        run_zone = [zones.setdefault(run.zone, len(zones)) for run in runs]
        zone_at = np.array(run_zone, np.intp)[meter_at]
        hour = np.empty(n, np.int64)
        day = np.empty(n, np.int64)
        for zone, index in zones.items():
            positions = np.flatnonzero(zone_at == index)
            hour[positions], day[positions] = bucket_starts(time_us[positions], zone)

        known = ~np.isnan(quantity)
        # an interval inside its end's bucket (so its day) adds to those two; one that began
        # in the bucket before (every 15th reading of a 60 s meter) is split in two here, as
        # ``spread`` splits it; longer ones are spread one by one below
        inside = since_us >= hour
        previous = hour - BUCKET_US
        split = known & ~inside & (since_us >= previous)
        span = np.where(split, time_us - since_us, 1)
        earlier = np.where(split, quantity * (hour - since_us) / span, 0.0)
        whole = np.where(known & inside, quantity, 0.0) + np.where(split, quantity - earlier, 0.0)
        samples = known.astype(np.int64)
        estimated = (known & (quality & _ESTIMATED != 0)).astype(np.int64)
        for resolution, bucket_us in ((FIFTEEN, hour), (DAY, day)):
            # runs are in time order, so a bucket's readings stand together
            first = np.ones(n, bool)
            first[1:] = (meter_at[1:] != meter_at[:-1]) | (bucket_us[1:] != bucket_us[:-1])
            starts = np.flatnonzero(first)
            sums = zip(
                meter_at[starts].tolist(),
                bucket_us[starts].tolist(),
                np.add.reduceat(whole, starts).tolist(),
                np.add.reduceat(samples, starts).tolist(),
                np.add.reduceat(estimated, starts).tolist(),
                strict=True,
            )
            for meter, start_us, total, count, flagged in sums:
                if not count:
                    continue
                acc = self._acc[(runs[meter].meter_id, resolution, from_micros(start_us))]
                acc[0] += total
                acc[1] += count
                acc[2] += flagged
        if split.any():
            at = np.flatnonzero(split)
            previous_day = np.empty(len(at), np.int64)
            for zone, index in zones.items():
                mine = zone_at[at] == index
                if mine.any():
                    previous_day[mine] = day_starts_us(previous[at[mine]], zone)
            instants: dict[int, datetime] = {}
            for i, bucket_us, day_us, share in zip(
                at.tolist(),
                previous[at].tolist(),
                previous_day.tolist(),
                earlier[at].tolist(),
                strict=True,
            ):
                meter_id = runs[meter_at[i]].meter_id
                for resolution, key in ((FIFTEEN, bucket_us), (DAY, day_us)):
                    instant = instants.get(key)
                    if instant is None:
                        instant = instants[key] = from_micros(key)
                    self._acc[(meter_id, resolution, instant)][0] += share
        for i in np.flatnonzero(known & ~inside & ~split).tolist():
            run = runs[meter_at[i]]
            spreads = spread(
                from_micros(int(since_us[i])),
                from_micros(int(time_us[i])),
                float(quantity[i]),
                run.zone,
            )
            for resolution, bucket, share in spreads:
                self._acc[(run.meter_id, resolution, bucket)][0] += share

    def copy(self) -> RollupDeltas:
        """An independent copy (its window cache starts empty)."""
        other = RollupDeltas()
        for key, acc in self._acc.items():
            other._acc[key] = list(acc)
        return other

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "meter_id": meter_id,
                "resolution": resolution,
                "bucket_start": bucket,
                "quantity": acc[0],
                "samples": int(acc[1]),
                "estimated": int(acc[2]),
            }
            for (meter_id, resolution, bucket), acc in self._acc.items()
            if acc[1] or acc[0]
        ]
