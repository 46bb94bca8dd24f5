"""Detector state per condition, kept in memory, and what each evaluation asks to write.

One ``ConditionTracker`` per engine holds the domain detectors' states keyed by
condition key (bounded by the plant's meters and areas). An evaluation never changes
state by itself: it returns a ``Step`` whose ``commit`` the engine calls only once the
step's action (open or clear an alert) is in the database, so a failed write is
simply re-derived on the next evaluation instead of being lost.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from typing import Any

from app.alerts.store import Target
from app.domain.alerts import (
    AlertCandidate,
    AlertKind,
    AlertScope,
    Severity,
    condition_key,
    describe,
)
from app.domain.baseline import (
    Ewma,
    Expectation,
    ExpectationSource,
    HourOfWeekBaseline,
    pick_expectation,
)
from app.domain.detection import (
    ConditionState,
    OfflineDetector,
    OfflineState,
    PvShortfallDetector,
    SpikeDetector,
    SpikeState,
    Transition,
    TransitionKind,
)
from app.domain.plant import ELECTRIC_RESOURCES, Area, Meter, Resource, Site
from app.domain.severity import PLANT_LEVEL_RESOURCES, offline_severity, spike_severity
from app.domain.solar import clear_sky_pv_kw

from .rules import EffectiveRules, area_target


@dataclass(frozen=True, slots=True)
class Reading:
    """A meter's newest reading as ``meter_state`` has it."""

    time: datetime
    rate: float | None
    """Quantity per hour over the last interval: kW for electricity, m³/h for gas."""
    received: datetime | None = None
    """When the ingester stored it (its clock)."""
    offline_since: datetime | None = None
    """Declared offline by its Sparkplug edge node (NDEATH/DDEATH), no reading since."""

    @property
    def heard(self) -> datetime:
        """When the meter was last heard from: a gateway replaying a backlog (readings
        stamped minutes or hours ago, arriving now) is talking, not silent."""
        return self.time if self.received is None else max(self.time, self.received)


@dataclass(frozen=True, slots=True)
class Open:
    candidate: AlertCandidate
    target: Target
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Clear:
    condition_key: str
    note: str
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Step:
    commit: Callable[[], None]
    action: Open | Clear | None = None


@dataclass(frozen=True, slots=True)
class _SpikeSubject:
    """What a spike condition is about: a meter, or an area's feeders summed."""

    key: str
    scope: AlertScope
    target_id: str
    target: Target
    unit: str
    stale_after_s: float
    """Older readings are not judged (the offline alert covers a silent meter)."""
    describe: Callable[[Transition], str]


@dataclass(frozen=True, slots=True)
class _SpikeTrack:
    state: SpikeState = field(default_factory=SpikeState)
    ewma: Ewma = field(default_factory=Ewma)
    seen: datetime | None = None
    previous: float | None = None


def _resource_of(site: Site, subject: _SpikeSubject) -> Resource:
    """What the subject measures: its meter's resource, or electricity for an area."""
    meter_id = subject.target.meter_id
    for meter in site.meters:
        if meter.id == meter_id:
            return meter.resource
    return Resource.ELECTRICITY


def rate_unit(meter: Meter) -> str:
    return "kW" if meter.resource in ELECTRIC_RESOURCES else "m3/h"


def _hhmm(at: datetime, tz: tzinfo) -> str:
    return at.astimezone(tz).strftime("%H:%M")


def _open_condition(condition: ConditionState, since: datetime) -> ConditionState:
    if condition.is_open:
        return condition
    return replace(condition, is_open=True, open_since=since, pending_since=None, clear_since=None)


class ConditionTracker:
    """In-memory detector state of one engine, for every condition of the plant."""

    def __init__(self) -> None:
        self._spikes: dict[str, _SpikeTrack] = {}
        self._offline: dict[str, OfflineState] = {}
        self._pv: dict[str, ConditionState] = {}

    def seed_open(self, key: str, kind: str, since: datetime) -> None:
        """Take over an alert this engine did not open (another engine, or before a
        restart), so that it is resolved here when the condition clears."""
        if kind == AlertKind.SPIKE:
            track = self._spikes.get(key, _SpikeTrack())
            state = replace(track.state, condition=_open_condition(track.state.condition, since))
            self._spikes[key] = replace(track, state=state)
        elif kind == AlertKind.OFFLINE:
            off = self._offline.get(key, OfflineState())
            # a meter still never seen has been silent since the alert says, not since
            # this engine started: otherwise a restart would clear and reopen it
            watching = off.watching_since if off.watching_since is not None else since
            condition = _open_condition(off.condition, since)
            self._offline[key] = OfflineState(condition, min(watching, since))
        elif kind == AlertKind.PV_SHORTFALL:
            self._pv[key] = _open_condition(self._pv.get(key, ConditionState()), since)

    def forget(self, key: str) -> None:
        self._spikes.pop(key, None)
        self._offline.pop(key, None)
        self._pv.pop(key, None)

    # -- silent meters --------------------------------------------------------------------

    def offline(
        self,
        site: Site,
        meter: Meter,
        rules: EffectiveRules,
        reading: Reading | None,
        now: datetime,
        area_name: str | None,
    ) -> Step:
        key = condition_key(AlertKind.OFFLINE, AlertScope.METER, meter.id)
        detector = OfflineDetector(meter.expected_interval_s, rules.offline_missed_intervals)
        before = self._offline.get(key, OfflineState())
        last_seen = reading.heard if reading else None
        declared = reading.offline_since if reading else None
        if declared is not None:
            # its edge node said it is gone: silent now, not after the missed intervals
            last_seen = declared - timedelta(
                seconds=meter.expected_interval_s * rules.offline_missed_intervals + 1
            )
        after, transition = detector.evaluate(before, now=now, last_seen=last_seen)
        if transition is not None and declared is not None:
            transition = replace(transition, since=declared)

        def commit() -> None:
            self._offline[key] = after

        if transition is None:
            return Step(commit)
        if transition.kind is TransitionKind.CLEARED:
            note = f"readings resumed at {_hhmm(transition.since, site.zone)}"
            return Step(commit, Clear(key, note))
        message = describe(
            AlertKind.OFFLINE,
            meter_id=meter.id,
            meter_name=meter.name,
            area_name=area_name,
            since=transition.since,
            tz=site.zone,
            now=now,
        )
        candidate = AlertCandidate(
            AlertKind.OFFLINE,
            AlertScope.METER,
            meter.id,
            offline_severity(meter.resource),
            message,
            transition.since,
        )
        details = {
            "expected_interval_s": meter.expected_interval_s,
            "missed_intervals": rules.offline_missed_intervals,
            "never_seen": reading is None,
        }
        return Step(commit, Open(candidate, Target(site.id, meter.area, meter.id), details))

    # -- spikes ----------------------------------------------------------------------------

    def meter_spike(
        self,
        site: Site,
        meter: Meter,
        rules: EffectiveRules,
        reading: Reading | None,
        now: datetime,
        baseline: HourOfWeekBaseline | None,
        area_name: str | None,
    ) -> Step | None:
        """Judged once per new reading, at the reading's time (data time, not wall time:
        the minimum duration means minutes of the meter's own data)."""
        if reading is None:
            return None
        key = condition_key(AlertKind.SPIKE, AlertScope.METER, meter.id)
        stale_after = meter.expected_interval_s * rules.offline_missed_intervals
        unit = rate_unit(meter)

        def describe_spike(transition: Transition) -> str:
            return _describe_transition(
                AlertKind.SPIKE, meter, area_name, site, transition, unit, now
            )

        subject = _SpikeSubject(
            key,
            AlertScope.METER,
            meter.id,
            Target(site.id, meter.area, meter.id),
            unit,
            stale_after,
            describe_spike,
        )
        return self._spike(subject, site, rules, reading, now, baseline)

    def area_spike(
        self,
        site: Site,
        area: Area,
        feeders: list[Meter],
        rules: EffectiveRules,
        readings: Mapping[str, Reading],
        now: datetime,
        baseline: HourOfWeekBaseline | None,
    ) -> Step | None:
        """The sum of an area's electricity feeders, judged when every feeder is fresh."""
        target_id = area_target(site.id, area.id)
        key = condition_key(AlertKind.SPIKE, AlertScope.AREA, target_id)
        stale_after = max(m.expected_interval_s for m in feeders) * rules.offline_missed_intervals
        parts = [readings.get(m.id) for m in feeders]
        if any(p is None or p.rate is None for p in parts):
            return None
        fresh = [p for p in parts if p is not None]
        if any((now - p.time).total_seconds() > stale_after for p in fresh):
            return None  # a silent feeder would read as a drop; the offline alert says so
        total = Reading(max(p.time for p in fresh), sum(p.rate or 0.0 for p in fresh))

        def describe_area(transition: Transition) -> str:
            figures = f"{transition.observed or 0.0:.1f} kW"
            if transition.expected is not None:
                figures += f" vs {transition.expected:.1f} kW expected"
            if transition.threshold is not None:
                figures += f" (threshold {transition.threshold:.1f} kW)"
            since = transition.since.astimezone(site.zone)
            at = since.strftime(
                "%H:%M" if since.date() == now.astimezone(site.zone).date() else "%Y-%m-%d %H:%M"
            )
            return (
                f"Spike on area {area.name} (sum of {len(feeders)} electricity feeders): "
                f"{figures} since {at}"
            )

        subject = _SpikeSubject(
            key,
            AlertScope.AREA,
            target_id,
            Target(site.id, area.id, None),
            "kW",
            stale_after,
            describe_area,
        )
        return self._spike(subject, site, rules, total, now, baseline)

    def _spike(
        self,
        subject: _SpikeSubject,
        site: Site,
        rules: EffectiveRules,
        reading: Reading,
        now: datetime,
        baseline: HourOfWeekBaseline | None,
    ) -> Step | None:
        key, unit = subject.key, subject.unit
        track = self._spikes.get(key, _SpikeTrack())
        if track.seen is not None and reading.time <= track.seen:
            return None  # nothing new since the last evaluation
        rate = reading.rate
        if (
            rate is None
            or not math.isfinite(rate)
            or (now - reading.time).total_seconds() > subject.stale_after_s
        ):
            seen = replace(track, seen=reading.time)
            return Step(lambda: self._spikes.__setitem__(key, seen))
        local = reading.time.astimezone(site.zone)
        expectation: Expectation | None = pick_expectation(baseline, track.ewma, local)
        detector = SpikeDetector(rules.spike_rule())
        state, transition = detector.evaluate(
            track.state,
            now=reading.time,
            observed=rate,
            expectation=expectation,
            previous_observed=track.previous,
        )
        after = _SpikeTrack(state, track.ewma.update(rate), reading.time, rate)

        def commit() -> None:
            self._spikes[key] = after

        if transition is None:
            return Step(commit)
        if transition.kind is TransitionKind.CLEARED:
            expected = (
                f" vs {transition.expected:.1f} {unit} expected" if transition.expected else ""
            )
            note = (
                f"back to normal since {_hhmm(transition.since, site.zone)}: "
                f"{rate:.1f} {unit}{expected}"
            )
            return Step(commit, Clear(key, note, {"cleared_observed": rate}))
        severity = spike_severity(
            rate,
            transition.expected,
            transition.threshold or rate,
            site_load=self._site_load(site, subject, rate),
            plant_level=_resource_of(site, subject) in PLANT_LEVEL_RESOURCES,
            provisional=expectation is not None and expectation.source is ExpectationSource.EWMA,
        )
        candidate = AlertCandidate(
            kind=AlertKind.SPIKE,
            scope=subject.scope,
            target_id=subject.target_id,
            severity=severity,
            message=subject.describe(transition),
            since=transition.since,
            observed=transition.observed,
            expected=transition.expected,
            threshold=transition.threshold,
            unit=unit,
        )
        details = {"expectation": expectation.source.value if expectation else "absolute"}
        return Step(commit, Open(candidate, subject.target, details))

    def _site_load(self, site: Site, subject: _SpikeSubject, rate: float) -> float | None:
        """The site's load of the subject's resource: the last rate of each of its meters."""
        resource = _resource_of(site, subject)
        total, known = 0.0, False
        for meter in site.meters:
            if meter.resource != resource:
                continue
            if meter.id == subject.target.meter_id:
                total, known = total + rate, True
                continue
            track = self._spikes.get(condition_key(AlertKind.SPIKE, AlertScope.METER, meter.id))
            if track is not None and track.previous is not None:
                total, known = total + track.previous, True
        if subject.target.meter_id is None:  # an area: its feeders' sum is part of the load
            total += rate
        return total if known or total > 0 else None

    # -- PV shortfall ------------------------------------------------------------------------

    def pv_shortfall(
        self,
        site: Site,
        meter: Meter,
        rules: EffectiveRules,
        reading: Reading | None,
        now: datetime,
        area_name: str | None,
    ) -> Step | None:
        """PV against what a clear sky allows at the reading's time; quiet at night."""
        if reading is None or reading.rate is None or meter.rated_kw is None:
            return None
        key = condition_key(AlertKind.PV_SHORTFALL, AlertScope.METER, meter.id)
        stale_after = meter.expected_interval_s * rules.offline_missed_intervals
        if (now - reading.time).total_seconds() > stale_after:
            return None
        before = self._pv.get(key, ConditionState())
        if before.last_at is not None and reading.time <= before.last_at:
            return None
        clear_sky_kw = clear_sky_pv_kw(meter.rated_kw, reading.time, site.latitude, site.longitude)
        detector = PvShortfallDetector(rules.pv_rule(meter.rated_kw))
        after, transition = detector.evaluate(
            before, now=reading.time, observed_kw=reading.rate, clear_sky_expected_kw=clear_sky_kw
        )

        def commit() -> None:
            self._pv[key] = after

        if transition is None:
            return Step(commit)
        if transition.kind is TransitionKind.CLEARED:
            note = (
                f"PV back to {reading.rate:.1f} kW of {clear_sky_kw:.1f} kW clear-sky "
                f"since {_hhmm(transition.since, site.zone)}"
            )
            return Step(commit, Clear(key, note))
        message = _describe_transition(
            AlertKind.PV_SHORTFALL, meter, area_name, site, transition, "kW", now
        )
        candidate = AlertCandidate(
            kind=AlertKind.PV_SHORTFALL,
            scope=AlertScope.METER,
            target_id=meter.id,
            severity=Severity.WARNING,
            message=message,
            since=transition.since,
            observed=transition.observed,
            expected=transition.expected,
            threshold=transition.threshold,
            unit="kW",
        )
        return Step(commit, Open(candidate, Target(site.id, meter.area, meter.id)))


def _describe_transition(
    kind: AlertKind,
    meter: Meter,
    area_name: str | None,
    site: Site,
    transition: Transition,
    unit: str,
    now: datetime,
) -> str:
    """The message for a meter condition that opened: observed vs expected, since when."""
    return describe(
        kind,
        meter_id=meter.id,
        meter_name=meter.name,
        area_name=area_name,
        since=transition.since,
        tz=site.zone,
        observed=transition.observed,
        expected=transition.expected,
        threshold=transition.threshold,
        unit=unit,
        now=now,
    )
