"""Spike, silent-meter and PV-shortfall detection: pure state machines, clock passed in.

What is normal comes from ``app.domain.baseline`` (an hour-of-week baseline, or an EWMA
while history is short). Every detector shares one debouncing ``ConditionLatch``: a
condition must hold for ``min_duration_s`` before it opens and must be clear for
``min_clear_s`` before it clears, so noise does not page anyone.

Typical loop per reading (the caller owns persistence of the states)::

    expectation = pick_expectation(baseline, ewma, local_time)
    state, transition = detector.evaluate(state, now=now, observed=power_kw,
                                          expectation=expectation,
                                          previous_observed=previous_kw)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Final

from app.domain.alerts import AlertCandidate, AlertKind, AlertScope, Severity, describe
from app.domain.baseline import Expectation

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
