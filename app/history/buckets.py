"""Raw readings spread over fixed-width buckets (the minute zoom, and 15 min from readings).

A reading at ``t`` carries the quantity of ``(previous reading, t]``; it is spread over the
buckets that interval covers in proportion to time, as the rollups spread it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from app.domain.periods import interval_start


def _floor(moment: datetime, width_s: int) -> datetime:
    epoch = moment.timestamp()
    return datetime.fromtimestamp(epoch - epoch % width_s, UTC)


def spread_fixed(
    since: datetime, until: datetime, quantity: float, width: timedelta
) -> list[tuple[datetime, float]]:
    """Shares of ``quantity`` for ``(since, until]`` per bucket of ``width``."""
    width_s = int(width.total_seconds())
    total_s = (until - since).total_seconds()
    first = _floor(until - timedelta(microseconds=1), width_s)
    if since >= first or total_s <= 0:
        return [(first, quantity)]
    shares: list[tuple[datetime, float]] = []
    start = since
    while start < until:
        bucket = _floor(start, width_s)
        end = min(bucket + width, until)
        shares.append((bucket, quantity * (end - start).total_seconds() / total_s))
        start = end
    return shares


def readings_to_buckets(
    readings: Iterable[tuple[str, datetime, float | None]],
    group_of: Mapping[str, str],
    expected_interval_s: Mapping[str, float],
    width: timedelta,
    start: datetime,
    end: datetime,
) -> list[tuple[str, datetime, float]]:
    """``(group, bucket, quantity)`` in ``[start, end)`` from readings sorted by meter, time."""
    sums: dict[tuple[str, datetime], float] = {}
    previous: dict[str, datetime] = {}
    for meter, time, quantity in readings:
        before = previous.get(meter)
        previous[meter] = time
        if quantity is None:
            continue
        since = interval_start(before, time, expected_interval_s[meter])
        for bucket, share in spread_fixed(since, time, quantity, width):
            if start <= bucket < end:
                key = (group_of[meter], bucket)
                sums[key] = sums.get(key, 0.0) + share
    return [(g, b, q) for (g, b), q in sums.items()]
