"""Hour-of-week baselines from the hourly rollups, rebuilt at most once an hour per site.

An hour rollup's quantity over one hour is the hour's average rate (kWh per hour = kW,
m³ per hour = m³/h), so the rollups the ingester already keeps are the history; nothing
else is stored. The current hour is left out: it is not over, and its partial quantity
would read as a low rate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.orm import Session

from app.db.rollups import hour_sums
from app.domain.baseline import HourOfWeekBaseline
from app.domain.plant import Site

EDGE_MINUTES = 30
"""Minutes from an hour boundary within which the neighbouring hour also counts."""

_HALF_HOUR: Final = timedelta(minutes=30)


class BaselineCache:
    """Baselines per condition key; memory is bounded by the number of meters and areas
    (168 buckets × ``weeks`` samples each)."""

    def __init__(
        self,
        *,
        weeks: int = 8,
        min_weeks: int = 3,
        refresh: timedelta = timedelta(hours=1),
    ) -> None:
        if not 1 <= min_weeks <= weeks:
            raise ValueError("need 1 <= min_weeks <= weeks")
        self.weeks = weeks
        self.min_weeks = min_weeks
        self.refresh = refresh
        self._built_at: dict[str, datetime] = {}
        self._baselines: dict[str, HourOfWeekBaseline] = {}
        self.rebuilds = 0

    def get(self, key: str) -> HourOfWeekBaseline | None:
        return self._baselines.get(key)

    def due(self, site_id: str, now: datetime) -> bool:
        built = self._built_at.get(site_id)
        # a clock that went backwards (a replayed test, a corrected clock) also rebuilds
        return built is None or now - built >= self.refresh or now < built

    def rebuild(
        self,
        session: Session,
        site: Site,
        meters: Mapping[str, str],
        areas: Mapping[str, Sequence[str]],
        now: datetime,
    ) -> None:
        """Rebuild the site's baselines in one query.

        Args:
            meters: condition key -> meter id, for meters judged on their own.
            areas: condition key -> the area's feeder meter ids (summed per hour; an
                hour counts only when every feeder has a rollup for it).
        """
        ids = set(meters.values()) | {m for feeders in areas.values() for m in feeders}
        end = now.replace(minute=0, second=0, microsecond=0)
        start = end - timedelta(weeks=self.weeks)
        per_meter: dict[str, dict[datetime, float]] = defaultdict(dict)
        if ids:
            per_meter.update(hour_sums(session, sorted(ids), start, end))
        zone = site.zone

        def build(series: Mapping[datetime, float]) -> HourOfWeekBaseline:
            # the middle of the hour names the local hour, also for half-hour time zones
            samples = [((b + _HALF_HOUR).astimezone(zone), q) for b, q in sorted(series.items())]
            # the hourly baseline knows nothing of load changes inside an hour (meal
            # times, dawn lighting): every minute is judged against the higher of its
            # own hour and the nearer neighbour (a normal week opened 15 alerts at 20)
            return HourOfWeekBaseline.from_history(
                samples,
                min_samples=self.min_weeks,
                max_samples_per_bucket=self.weeks,
                edge_minutes=EDGE_MINUTES,
            )

        for key, meter_id in meters.items():
            self._baselines[key] = build(per_meter.get(meter_id, {}))
        for key, feeders in areas.items():
            common = set.intersection(*(set(per_meter.get(m, {})) for m in feeders))
            summed = {b: sum(per_meter[m][b] for m in feeders) for b in common}
            self._baselines[key] = build(summed)
        self._built_at[site.id] = now
        self.rebuilds += 1
