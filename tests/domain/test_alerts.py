"""Alert lifecycle, condition keys, severity and the messages people read."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.domain.alerts import (
    Alert,
    AlertCandidate,
    AlertKind,
    AlertScope,
    AlertStatus,
    InvalidTransition,
    Severity,
    acknowledge,
    condition_key,
    describe,
    open_alert,
    resolve,
    severity_for_excess,
)

T0 = datetime(2024, 6, 11, 12, 5, tzinfo=UTC)  # Tuesday 14:05 in Berlin summer time
CEST = timezone(timedelta(hours=2))


def _spike(*, now: datetime = T0 + timedelta(minutes=2), alert_id: int | None = None) -> Alert:
    alert = open_alert(
        kind=AlertKind.SPIKE,
        scope=AlertScope.METER,
        target_id="el-comp-01",
        severity=Severity.WARNING,
        message="Spike on Compressor house main",
        now=now,
        since=T0,
        observed=412.5,
        expected=180.2,
        threshold=260.0,
        unit="kW",
    )
    return replace(alert, id=alert_id)  # the store assigns ids


def test_condition_key_names_kind_scope_and_target() -> None:
    assert condition_key(AlertKind.SPIKE, AlertScope.METER, "el-comp-01") == (
        "spike:meter:el-comp-01"
    )
    assert condition_key(AlertKind.OFFLINE, AlertScope.AREA, "utilities") == (
        "offline:area:utilities"
    )
    assert condition_key(AlertKind.SPIKE, AlertScope.METER, "a") != condition_key(
        AlertKind.OFFLINE, AlertScope.METER, "a"
    )
    with pytest.raises(ValueError, match="target_id"):
        condition_key(AlertKind.SPIKE, AlertScope.METER, "  ")


def test_open_alert_starts_open_without_id() -> None:
    alert = _spike()
    assert alert.status is AlertStatus.OPEN
    assert alert.id is None
    assert alert.is_active
    assert alert.since == T0
    assert alert.opened_at == T0 + timedelta(minutes=2)
    assert alert.condition_key == "spike:meter:el-comp-01"
    with pytest.raises(FrozenInstanceError):
        alert.status = AlertStatus.RESOLVED  # type: ignore[misc]


def test_open_alert_rejects_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        _spike(now=datetime(2024, 6, 11, 12, 0))


def test_open_then_acknowledge_then_resolve_automatically() -> None:
    alert = _spike()
    acked = acknowledge(alert, by="maria", now=T0 + timedelta(minutes=5), note="on my way")
    assert acked.status is AlertStatus.ACKNOWLEDGED
    assert (acked.acknowledged_by, acked.acknowledge_note) == ("maria", "on my way")
    assert alert.status is AlertStatus.OPEN  # the original is untouched
    done = resolve(acked, now=T0 + timedelta(minutes=30), automatic=True)
    assert done.status is AlertStatus.RESOLVED
    assert done.resolved_automatically
    assert done.resolved_by is None
    assert done.resolved_at == T0 + timedelta(minutes=30)
    assert not done.is_active
    assert done.acknowledged_by == "maria"  # history is kept


def test_resolve_by_hand_needs_who_and_a_note() -> None:
    alert = _spike()
    with pytest.raises(ValueError, match="note"):
        resolve(alert, now=T0 + timedelta(minutes=10), by="maria")
    with pytest.raises(ValueError, match="by"):
        resolve(alert, now=T0 + timedelta(minutes=10), note="valve fixed")
    done = resolve(alert, now=T0 + timedelta(minutes=10), by="maria", note="valve fixed")
    assert done.status is AlertStatus.RESOLVED
    assert not done.resolved_automatically
    assert (done.resolved_by, done.resolution_note) == ("maria", "valve fixed")


def test_an_open_alert_can_be_resolved_without_acknowledgement() -> None:
    done = resolve(_spike(), now=T0 + timedelta(minutes=10), automatic=True)
    assert done.status is AlertStatus.RESOLVED
    assert done.acknowledged_at is None


def test_resolving_a_resolved_alert_is_invalid() -> None:
    done = resolve(_spike(alert_id=7), now=T0 + timedelta(minutes=10), automatic=True)
    with pytest.raises(InvalidTransition, match=r"cannot resolve alert #7 .*already resolved"):
        resolve(done, now=T0 + timedelta(minutes=11), automatic=True)


def test_acknowledging_a_resolved_alert_is_invalid() -> None:
    done = resolve(_spike(), now=T0 + timedelta(minutes=10), automatic=True)
    with pytest.raises(InvalidTransition, match=r"cannot acknowledge .* already resolved"):
        acknowledge(done, by="maria", now=T0 + timedelta(minutes=11))


def test_acknowledging_twice_is_invalid_and_names_who_did() -> None:
    acked = acknowledge(_spike(), by="maria", now=T0 + timedelta(minutes=5))
    with pytest.raises(InvalidTransition, match="already acknowledged by maria"):
        acknowledge(acked, by="tom", now=T0 + timedelta(minutes=6))


def test_acknowledge_needs_a_name_and_a_sane_time() -> None:
    with pytest.raises(ValueError, match="by"):
        acknowledge(_spike(), by=" ", now=T0 + timedelta(minutes=5))
    with pytest.raises(ValueError, match="before"):
        acknowledge(_spike(), by="maria", now=T0 - timedelta(hours=1))


def test_invalid_transition_is_a_value_error() -> None:
    assert issubclass(InvalidTransition, ValueError)


@pytest.mark.parametrize(
    ("observed", "expected", "threshold", "severity"),
    [
        (261.0, 180.0, 260.0, Severity.WARNING),  # just over
        (339.0, 180.0, 260.0, Severity.WARNING),  # excess 159 < 2 x 80
        (340.0, 180.0, 260.0, Severity.CRITICAL),  # excess 160 = 2 x 80
        (412.5, 180.2, 260.0, Severity.CRITICAL),
        (150.0, None, 100.0, Severity.WARNING),  # absolute threshold only
        (200.0, None, 100.0, Severity.CRITICAL),
    ],
)
def test_severity_from_excess(
    observed: float, expected: float | None, threshold: float, severity: Severity
) -> None:
    assert severity_for_excess(observed, expected, threshold) is severity


def test_describe_spike_reads_like_the_example() -> None:
    text = describe(
        AlertKind.SPIKE,
        meter_id="el-comp-01",
        meter_name="Compressor house main",
        area_name="Utilities",
        observed=412.5,
        expected=180.2,
        threshold=260.0,
        unit="kW",
        since=T0,
        tz=CEST,
    )
    assert text == (
        "Spike on Compressor house main (meter el-comp-01, area Utilities): "
        "412.5 kW vs 180.2 kW expected (threshold 260.0 kW) since 14:05"
    )


def test_describe_uses_the_sites_local_time_and_the_date_on_another_day() -> None:
    text = describe(
        AlertKind.OFFLINE,
        meter_id="gas-01",
        since=datetime(2024, 6, 10, 21, 30, tzinfo=UTC),
        tz=CEST,
        now=datetime(2024, 6, 11, 6, 0, tzinfo=UTC),
    )
    assert text == "No readings from gas-01 (meter gas-01): silent since 2024-06-10 23:30"


def test_describe_pv_shortfall_names_the_clear_sky_expectation() -> None:
    text = describe(
        AlertKind.PV_SHORTFALL,
        meter_id="pv-roof-01",
        meter_name="Roof PV",
        area_name="Roof",
        observed=3.1,
        expected=85.0,
        threshold=17.0,
        since=T0,
        tz=UTC,
    )
    assert text == (
        "PV far below clear-sky output on Roof PV (meter pv-roof-01, area Roof): "
        "3.1 kW vs 85.0 kW clear-sky expected (threshold 17.0 kW) since 12:05"
    )


def test_candidate_opens_an_alert_with_its_figures() -> None:
    candidate = AlertCandidate(
        kind=AlertKind.SPIKE,
        scope=AlertScope.METER,
        target_id="el-comp-01",
        severity=Severity.CRITICAL,
        message="m",
        since=T0,
        observed=412.5,
        expected=180.2,
        threshold=260.0,
        unit="kW",
    )
    alert = candidate.open(now=T0 + timedelta(minutes=2))
    assert alert.condition_key == candidate.condition_key
    assert (alert.observed, alert.expected, alert.threshold, alert.unit) == (
        412.5,
        180.2,
        260.0,
        "kW",
    )
    assert alert.since == T0
    assert alert.severity is Severity.CRITICAL
