"""Spike, silent-meter and PV-shortfall detection: pure state machines, clock passed in.

What is normal comes from an hour-of-week baseline (median and MAD per hour of the
week) or, while history is short, from an EWMA. Every detector shares one debouncing
``ConditionLatch``: a condition must hold for ``min_duration_s`` before it opens and
must be clear for ``min_clear_s`` before it clears, so noise does not page anyone.

Typical loop per reading (the caller owns persistence of the states)::

    expectation = pick_expectation(baseline, ewma, local_time)
    state, transition = detector.evaluate(state, now=now, observed=power_kw,
                                          expectation=expectation,
                                          previous_observed=previous_kw)
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Final

from app.domain.alerts import AlertCandidate, AlertKind, AlertScope, Severity, describe

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


# --- the shared debouncing state machine -------------------------------------------


class Verdict(StrEnum):
    """One evaluation's judgement: the condition holds, is clearly gone, or neither."""

    CONDITION = "condition"
    NEUTRAL = "neutral"  # in the hysteresis band, or not judgeable (night, no baseline)
    CLEAR = "clear"


class TransitionKind(StrEnum):
    OPENED = "opened"
    CLEARED = "cleared"


@dataclass(frozen=True, slots=True)
class Transition:
    """A condition opened or cleared at ``at``.

    For OPENED, ``since`` is when the condition began; for CLEARED, when it was first
    seen clear. Quantities are those of the evaluation that caused the transition.
    """

    kind: TransitionKind
    at: datetime
    since: datetime
    observed: float | None = None
    expected: float | None = None
    threshold: float | None = None


@dataclass(frozen=True, slots=True)
class ConditionState:
    is_open: bool = False
    pending_since: datetime | None = None
    open_since: datetime | None = None
    clear_since: datetime | None = None
    last_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ConditionLatch:
    """Opens after ``min_duration_s`` of CONDITION; clears after ``min_clear_s`` of CLEAR.

    Anything else restarts the running timer, so a noisy signal around a threshold
    cannot flap. Evaluations older than the last one are ignored (late data does not
    move a live detector backwards).
    """

    min_duration_s: float = 0.0
    min_clear_s: float = 0.0

    def step(
        self, state: ConditionState, verdict: Verdict, now: datetime
    ) -> tuple[ConditionState, TransitionKind | None]:
        if now.utcoffset() is None:
            raise ValueError(f"now must be timezone-aware, got {now!r}")
        if state.last_at is not None and now < state.last_at:
            return state, None
        if not state.is_open:
            if verdict is not Verdict.CONDITION:
                return ConditionState(last_at=now), None
            pending = state.pending_since or now
            if now - pending >= timedelta(seconds=self.min_duration_s):
                return ConditionState(is_open=True, open_since=pending, last_at=now), (
                    TransitionKind.OPENED
                )
            return ConditionState(pending_since=pending, last_at=now), None
        if verdict is not Verdict.CLEAR:
            return replace(state, clear_since=None, last_at=now), None
        clearing = state.clear_since or now
        if now - clearing >= timedelta(seconds=self.min_clear_s):
            return ConditionState(last_at=now), TransitionKind.CLEARED
        return replace(state, clear_since=clearing, last_at=now), None


def _transition(
    kind: TransitionKind | None,
    before: ConditionState,
    after: ConditionState,
    now: datetime,
    *,
    observed: float | None = None,
    expected: float | None = None,
    threshold: float | None = None,
) -> Transition | None:
    if kind is None:
        return None
    since = after.open_since if kind is TransitionKind.OPENED else before.clear_since
    return Transition(kind, now, since or now, observed, expected, threshold)


# --- spikes ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpikeRule:
    """When observed power counts as a spike.

    Attributes:
        sigma_k: threshold = expected + sigma_k × sigma (but see the floors).
        abs_threshold: observed above this is always a spike condition.
        min_excess: floor on (threshold − expected), in the meter's unit, so tiny
            loads with tiny sigma do not alarm.
        min_excess_ratio: floor on (threshold − expected) as a fraction of expected.
        rate_of_change: max increase per minute; a faster rise is a spike condition
            while the step is held (observed > level before the rise + rate_of_change).
        min_duration_s: the condition must hold this long before the spike opens.
        clear_ratio: clear when observed ≤ expected + clear_ratio × (threshold − expected)
        min_clear_s: … and has stayed so for this long.
    """

    sigma_k: float = 4.0
    abs_threshold: float | None = None
    min_excess: float = 1.0
    min_excess_ratio: float = 0.25
    rate_of_change: float | None = None
    min_duration_s: float = 120.0
    clear_ratio: float = 0.5
    min_clear_s: float = 300.0

    def __post_init__(self) -> None:
        if not self.sigma_k > 0:
            raise ValueError(f"sigma_k must be positive, got {self.sigma_k}")
        if self.min_excess < 0 or self.min_excess_ratio < 0:
            raise ValueError("min_excess and min_excess_ratio must be >= 0")
        if self.rate_of_change is not None and not self.rate_of_change > 0:
            raise ValueError(f"rate_of_change must be positive, got {self.rate_of_change}")
        if not 0 <= self.clear_ratio < 1:
            raise ValueError(f"clear_ratio must be within [0, 1), got {self.clear_ratio}")
        if self.min_duration_s < 0 or self.min_clear_s < 0:
            raise ValueError("min_duration_s and min_clear_s must be >= 0")


@dataclass(frozen=True, slots=True)
class SpikeState:
    condition: ConditionState = field(default_factory=ConditionState)
    ramp_base: float | None = None
    """Level before a too-fast rise, while that rise is being held."""

    @property
    def is_open(self) -> bool:
        return self.condition.is_open


@dataclass(frozen=True, slots=True)
class SpikeJudgement:
    verdict: Verdict
    threshold: float | None
    clear_level: float | None


def judge_spike(
    rule: SpikeRule, observed: float, expectation: Expectation | None, ramp_base: float | None
) -> SpikeJudgement:
    """Threshold = lowest of the applicable limits; clear only when under all clear levels."""
    limits: list[tuple[float, float]] = []  # (threshold, clear level)
    expected = expectation.expected if expectation is not None else None
    if expectation is not None:
        excess = max(
            rule.sigma_k * expectation.sigma,
            rule.min_excess,
            rule.min_excess_ratio * abs(expectation.expected),
        )
        limits.append(
            (expectation.expected + excess, expectation.expected + rule.clear_ratio * excess)
        )
    if rule.abs_threshold is not None:
        base = min(expected if expected is not None else 0.0, rule.abs_threshold)
        limits.append((rule.abs_threshold, base + rule.clear_ratio * (rule.abs_threshold - base)))
    if ramp_base is not None and rule.rate_of_change is not None:
        limits.append(
            (ramp_base + rule.rate_of_change, ramp_base + rule.clear_ratio * rule.rate_of_change)
        )
    if not limits:
        return SpikeJudgement(Verdict.NEUTRAL, None, None)
    threshold = min(t for t, _ in limits)
    clear_level = min(c for _, c in limits)
    if observed > threshold:
        verdict = Verdict.CONDITION
    elif observed <= clear_level:
        verdict = Verdict.CLEAR
    else:
        verdict = Verdict.NEUTRAL
    return SpikeJudgement(verdict, threshold, clear_level)


@dataclass(frozen=True, slots=True)
class SpikeDetector:
    """One spike condition per meter: OPENED once, then CLEARED, never two OPENED."""

    rule: SpikeRule = field(default_factory=SpikeRule)

    def evaluate(
        self,
        state: SpikeState,
        *,
        now: datetime,
        observed: float,
        expectation: Expectation | None,
        previous_observed: float | None = None,
    ) -> tuple[SpikeState, Transition | None]:
        """Judge one sample. A rise is measured against ``previous_observed`` over the
        time since the previous evaluation, counted as at least one minute."""
        last_at = state.condition.last_at
        if not math.isfinite(observed) or (last_at is not None and now < last_at):
            return state, None
        ramp_base = state.ramp_base
        rate = self.rule.rate_of_change
        if (
            rate is not None
            and ramp_base is None
            and previous_observed is not None
            and last_at is not None
        ):
            minutes = max((now - last_at).total_seconds() / 60.0, 1.0)
            if (observed - previous_observed) / minutes > rate:
                ramp_base = previous_observed
        judgement = judge_spike(self.rule, observed, expectation, ramp_base)
        latch = ConditionLatch(self.rule.min_duration_s, self.rule.min_clear_s)
        condition, kind = latch.step(state.condition, judgement.verdict, now)
        ramp_held = ramp_base is not None and rate is not None and observed > ramp_base + rate
        if not condition.is_open and not ramp_held:
            ramp_base = None
        expected = expectation.expected if expectation is not None else None
        transition = _transition(
            kind,
            state.condition,
            condition,
            now,
            observed=observed,
            expected=expected,
            threshold=judgement.threshold,
        )
        return SpikeState(condition, ramp_base), transition


# --- silent meters ----------------------------------------------------------------------


def silent_since(
    last_seen: datetime | None, now: datetime, expected_interval_s: float, missed_intervals: int
) -> bool:
    """True when nothing arrived for longer than ``missed_intervals`` expected intervals.

    A meter never seen (``last_seen is None``) counts as silent.
    """
    if last_seen is None:
        return True
    return now - last_seen > timedelta(seconds=expected_interval_s * missed_intervals)


@dataclass(frozen=True, slots=True)
class OfflineState:
    condition: ConditionState = field(default_factory=ConditionState)
    watching_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class OfflineDetector:
    """OPENED when silent longer than ``missed_intervals`` intervals; CLEARED on a reading.

    A meter never seen is judged from the first evaluation, so a restart does not
    report every meter offline at once.
    """

    expected_interval_s: float = 60.0
    missed_intervals: int = 3

    def __post_init__(self) -> None:
        if not self.expected_interval_s > 0 or self.missed_intervals < 1:
            raise ValueError("expected_interval_s must be > 0 and missed_intervals >= 1")

    def evaluate(
        self, state: OfflineState, *, now: datetime, last_seen: datetime | None
    ) -> tuple[OfflineState, Transition | None]:
        watching_since = state.watching_since or now
        reference = last_seen if last_seen is not None else watching_since
        silent = silent_since(reference, now, self.expected_interval_s, self.missed_intervals)
        verdict = Verdict.CONDITION if silent else Verdict.CLEAR
        condition, kind = ConditionLatch().step(state.condition, verdict, now)
        transition = _transition(kind, state.condition, condition, now)
        if transition is not None:
            # silent since the last reading; cleared by the reading that arrived
            transition = replace(transition, since=reference)
        return OfflineState(condition, watching_since), transition


# --- PV shortfall ----------------------------------------------------------------------


def pv_shortfall(
    observed_kw: float,
    clear_sky_expected_kw: float,
    *,
    ratio_threshold: float = 0.2,
    min_expected_kw: float,
) -> bool | None:
    """True when PV gives less than ``ratio_threshold`` × what a clear sky allows.

    ``None`` when it cannot be judged: night, dawn and dusk (clear-sky expectation
    below ``min_expected_kw``).
    """
    if not math.isfinite(observed_kw) or clear_sky_expected_kw < min_expected_kw:
        return None
    return observed_kw < ratio_threshold * clear_sky_expected_kw


@dataclass(frozen=True, slots=True)
class PvShortfallRule:
    """Shortfall below ``ratio_threshold``; clear again above ``clear_ratio`` (hysteresis).

    Dark overcast can give 10–30 % of clear-sky output, hence the long default duration.
    """

    min_expected_kw: float
    ratio_threshold: float = 0.2
    clear_ratio: float = 0.35
    min_duration_s: float = 1800.0
    min_clear_s: float = 600.0

    def __post_init__(self) -> None:
        if not 0 < self.ratio_threshold <= self.clear_ratio < 1:
            raise ValueError("need 0 < ratio_threshold <= clear_ratio < 1")
        if self.min_expected_kw <= 0 or self.min_duration_s < 0 or self.min_clear_s < 0:
            raise ValueError("min_expected_kw must be > 0 and durations >= 0")


@dataclass(frozen=True, slots=True)
class PvShortfallDetector:
    rule: PvShortfallRule

    def evaluate(
        self,
        state: ConditionState,
        *,
        now: datetime,
        observed_kw: float,
        clear_sky_expected_kw: float,
    ) -> tuple[ConditionState, Transition | None]:
        """Judge one sample; at night nothing changes except running timers restart."""
        rule = self.rule
        short = pv_shortfall(
            observed_kw,
            clear_sky_expected_kw,
            ratio_threshold=rule.ratio_threshold,
            min_expected_kw=rule.min_expected_kw,
        )
        if short is None:
            verdict = Verdict.NEUTRAL
        elif short:
            verdict = Verdict.CONDITION
        elif not pv_shortfall(
            observed_kw,
            clear_sky_expected_kw,
            ratio_threshold=rule.clear_ratio,
            min_expected_kw=rule.min_expected_kw,
        ):
            verdict = Verdict.CLEAR
        else:
            verdict = Verdict.NEUTRAL
        latch = ConditionLatch(rule.min_duration_s, rule.min_clear_s)
        condition, kind = latch.step(state, verdict, now)
        threshold = rule.ratio_threshold * clear_sky_expected_kw
        transition = _transition(
            kind,
            state,
            condition,
            now,
            observed=observed_kw,
            expected=clear_sky_expected_kw,
            threshold=threshold,
        )
        return condition, transition


# --- register events ----------------------------------------------------------------------

_REGISTER_EVENT_TEXT: Final = {
    "reset": "register reset; consumption across the reset is estimated",
    "rollover": "register rolled over past its maximum; counting continues",
    "replacement": "meter or register replaced; a new series starts",
    "jump": "implausible register jump; the interval is not counted",
    "gap": "gap in readings; the interval is estimated",
}


def register_event_candidate(
    event_kind: str,
    *,
    meter_id: str,
    at: datetime,
    tz: tzinfo | None = None,
    meter_name: str | None = None,
    area_name: str | None = None,
) -> AlertCandidate:
    """An informational alert candidate for a register event (reset, rollover, replacement).

    ``tz`` is the site's zone for the message (defaults to ``at``'s). Unknown kinds
    are still reported, with their name, rather than dropped.
    """
    key = event_kind.strip().lower()
    detail = _REGISTER_EVENT_TEXT.get(key, f"register event '{event_kind}'")
    zone = tz if tz is not None else at.tzinfo
    if zone is None or at.utcoffset() is None:
        raise ValueError(f"at must be timezone-aware, got {at!r}")
    message = describe(
        AlertKind.REGISTER_EVENT,
        meter_id=meter_id,
        meter_name=meter_name,
        area_name=area_name,
        since=at,
        tz=zone,
        detail=detail,
    )
    return AlertCandidate(
        kind=AlertKind.REGISTER_EVENT,
        scope=AlertScope.METER,
        target_id=meter_id,
        severity=Severity.INFO,
        message=message,
        since=at,
    )
