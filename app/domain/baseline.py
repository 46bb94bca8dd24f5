"""What a meter should read now: hour-of-week baseline (median, MAD) and an EWMA fallback.

Pure and immutable, clock-free: callers pass the site-local time. The hour-of-week
baseline needs a few weeks of history; until its bucket is filled, ``pick_expectation``
falls back to the EWMA fed with the live observations.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Final

HOURS_PER_WEEK: Final = 168
MAD_TO_SIGMA: Final = 1.4826
"""Scales a median absolute deviation to a standard deviation for Gaussian noise."""


def hour_of_week(local_time: datetime) -> int:
    """0 = Monday 00:00–00:59 … 167 = Sunday 23:00–23:59, in the site's local time."""
    return local_time.weekday() * 24 + local_time.hour


class ExpectationSource(StrEnum):
    HOUR_OF_WEEK = "hour_of_week"
    EWMA = "ewma"


@dataclass(frozen=True, slots=True)
class Expectation:
    """What a meter should read now: ``expected`` ± ``sigma`` from ``samples`` samples."""

    expected: float
    sigma: float
    source: ExpectationSource
    samples: int


def _bucket_expectation(values: tuple[float, ...]) -> Expectation:
    median = statistics.median(values)
    mad = statistics.median(abs(v - median) for v in values)
    return Expectation(median, mad * MAD_TO_SIGMA, ExpectationSource.HOUR_OF_WEEK, len(values))


class HourOfWeekBaseline:
    """Median and robust sigma per hour of the week, from the newest samples of each hour.

    Immutable: ``with_sample``/``with_samples`` return a new baseline. Each of the 168
    buckets keeps at most ``max_samples_per_bucket`` samples, dropping the oldest
    (the default 480 is eight weeks of one-minute samples).

    Within ``edge_minutes`` of an hour boundary, ``expected`` is the upper envelope of
    this hour and the adjacent one (larger expected, larger sigma): shifts do not start
    on the hour exactly, and a spike is an upward test, so a start-up at 05:50 must not
    be judged against the night level of the 05:00 bucket.
    """

    __slots__ = ("_buckets", "_stats", "edge_minutes", "max_samples_per_bucket", "min_samples")

    def __init__(
        self,
        *,
        min_samples: int = 3,
        max_samples_per_bucket: int = 480,
        edge_minutes: int = 20,
    ) -> None:
        if min_samples < 1:
            raise ValueError(f"min_samples must be >= 1, got {min_samples}")
        if max_samples_per_bucket < min_samples:
            raise ValueError("max_samples_per_bucket must be >= min_samples")
        if not 0 <= edge_minutes <= 30:
            raise ValueError(f"edge_minutes must be within 0..30, got {edge_minutes}")
        self.min_samples = min_samples
        self.max_samples_per_bucket = max_samples_per_bucket
        self.edge_minutes = edge_minutes
        self._buckets: tuple[tuple[float, ...], ...] = ((),) * HOURS_PER_WEEK
        self._stats: tuple[Expectation | None, ...] = (None,) * HOURS_PER_WEEK

    @classmethod
    def from_history(
        cls,
        samples: Iterable[tuple[datetime, float]],
        *,
        min_samples: int = 3,
        max_samples_per_bucket: int = 480,
        edge_minutes: int = 20,
    ) -> HourOfWeekBaseline:
        """Build from ``(local_time, value)`` pairs, oldest first."""
        empty = cls(
            min_samples=min_samples,
            max_samples_per_bucket=max_samples_per_bucket,
            edge_minutes=edge_minutes,
        )
        return empty.with_samples(samples)

    def with_samples(self, samples: Iterable[tuple[datetime, float]]) -> HourOfWeekBaseline:
        """A new baseline with ``(local_time, value)`` pairs appended, oldest first."""
        buckets = [list(b) for b in self._buckets]
        touched: set[int] = set()
        for local_time, value in samples:
            if not math.isfinite(value):
                continue  # a broken reading must not poison the median
            how = hour_of_week(local_time)
            buckets[how].append(value)
            touched.add(how)
        limit = self.max_samples_per_bucket
        new_buckets = tuple(tuple(b[-limit:]) for b in buckets)
        stats = list(self._stats)
        for how in touched:
            stats[how] = _bucket_expectation(new_buckets[how])
        return self._evolve(new_buckets, tuple(stats))

    def with_sample(self, local_time: datetime, value: float) -> HourOfWeekBaseline:
        """A new baseline with one sample appended (cost: one bucket, not 168)."""
        if not math.isfinite(value):
            return self
        how = hour_of_week(local_time)
        bucket = (*self._buckets[how], value)[-self.max_samples_per_bucket :]
        buckets = (*self._buckets[:how], bucket, *self._buckets[how + 1 :])
        stats = (*self._stats[:how], _bucket_expectation(bucket), *self._stats[how + 1 :])
        return self._evolve(buckets, stats)

    def _evolve(
        self,
        buckets: tuple[tuple[float, ...], ...],
        stats: tuple[Expectation | None, ...],
    ) -> HourOfWeekBaseline:
        new = HourOfWeekBaseline(
            min_samples=self.min_samples,
            max_samples_per_bucket=self.max_samples_per_bucket,
            edge_minutes=self.edge_minutes,
        )
        new._buckets = buckets
        new._stats = stats
        return new

    def sample_count(self, local_time: datetime) -> int:
        return len(self._buckets[hour_of_week(local_time)])

    def _bucket(self, how: int) -> Expectation | None:
        stats = self._stats[how % HOURS_PER_WEEK]
        if stats is None or stats.samples < self.min_samples:
            return None
        return stats

    def expected(self, local_time: datetime) -> Expectation | None:
        """The expectation for this hour of the week; ``None`` below ``min_samples``."""
        how = hour_of_week(local_time)
        own = self._bucket(how)
        if own is None or self.edge_minutes == 0:
            return own
        if local_time.minute < self.edge_minutes:
            neighbour = self._bucket(how - 1)
        elif local_time.minute >= 60 - self.edge_minutes:
            neighbour = self._bucket(how + 1)
        else:
            neighbour = None
        if neighbour is None:
            return own
        return replace(
            own,
            expected=max(own.expected, neighbour.expected),
            sigma=max(own.sigma, neighbour.sigma),
        )


@dataclass(frozen=True, slots=True)
class Ewma:
    """Exponentially weighted mean and variance: the fallback while history is short.

    The variance is updated with the residual winsorised at ``clip_k`` sigma, so one
    step up does not inflate sigma at once and hide a sustained spike; the mean
    follows every value, so a new normal level stops alarming after ~1/alpha samples.
    """

    alpha: float = 0.1
    min_samples: int = 30
    sigma_floor: float = 0.0
    relative_sigma_floor: float = 0.02
    clip_k: float = 3.0
    mean: float = 0.0
    variance: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.alpha <= 1:
            raise ValueError(f"alpha must be within (0, 1], got {self.alpha}")
        if self.sigma_floor < 0 or self.relative_sigma_floor < 0 or self.clip_k <= 0:
            raise ValueError("sigma floors must be >= 0 and clip_k > 0")

    @property
    def sigma(self) -> float:
        return max(
            math.sqrt(self.variance),
            self.sigma_floor,
            self.relative_sigma_floor * abs(self.mean),
        )

    def update(self, value: float) -> Ewma:
        if not math.isfinite(value):
            return self
        if self.count == 0:
            return replace(self, mean=value, variance=0.0, count=1)
        residual = value - self.mean
        limit = self.clip_k * self.sigma
        clipped = min(max(residual, -limit), limit) if limit > 0 else residual
        variance = (1 - self.alpha) * (self.variance + self.alpha * clipped * clipped)
        mean = self.mean + self.alpha * residual
        return replace(self, mean=mean, variance=variance, count=self.count + 1)

    def expectation(self) -> Expectation | None:
        if self.count < self.min_samples:
            return None
        return Expectation(self.mean, self.sigma, ExpectationSource.EWMA, self.count)


def pick_expectation(
    baseline: HourOfWeekBaseline | None, ewma: Ewma | None, local_time: datetime
) -> Expectation | None:
    """The hour-of-week expectation when its bucket is filled, else the EWMA's."""
    if baseline is not None:
        found = baseline.expected(local_time)
        if found is not None:
            return found
    return ewma.expectation() if ewma is not None else None
