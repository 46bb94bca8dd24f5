"""The alert engine on a real database (SQLite, PostgreSQL, TimescaleDB), simulated time."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from app.alerts import overrides
from app.alerts import schemas as alert_schemas
from app.alerts import store as alert_store
from app.alerts.engine import AlertTransition
from app.alerts.models import AlertRow
from app.alerts.store import Target
from app.db.engine import transaction
from app.domain.alerts import AlertCandidate, AlertKind, AlertScope, Severity
from app.domain.plant import Plant
from tests.alerts.conftest import T0, Line, alert_rows, keyed, make_engine, minutes

SPIKE = "spike:meter:el-press-1"
OFFLINE = "offline:meter:el-press-1"
AREA_SPIKE = "spike:area:plant-a/press"
PV = "pv_shortfall:meter:pv-roof"
EVENT = "register_event:meter:el-press-1"
SECOND = timedelta(seconds=1)


def with_history(line: Line) -> None:
    """Three weeks at 200 kW: the hour-of-week baseline expects 200 kW (threshold 250)."""
    line.history("el-press-1", T0 - timedelta(days=21), T0, 200.0)


def test_spike_opens_after_min_duration_and_clears_with_hysteresis(
    line: Line, plant: Plant
) -> None:
    with_history(line)
    engine = make_engine(line.backend, plant)
    made: list[AlertTransition] = []
    # minutes 1-4 normal, 5-8 at 400 kW, 9-12 in the hysteresis band, 13- normal again
    profile = {m: 200.0 for m in range(1, 5)}
    profile |= {m: 400.0 for m in range(5, 9)}
    profile |= {m: 240.0 for m in range(9, 13)}
    profile |= {m: 200.0 for m in range(13, 25)}
    for minute, kw in profile.items():
        at = T0 + minutes(minute)
        line.power("el-press-1", at, kw)
        made += engine.evaluate_once(at + SECOND)

    assert keyed(made, SPIKE) == [
        # the third minute above threshold (120 s after the first): not before
        ("opened", T0 + minutes(7) + SECOND),
        # clear 300 s after the first minute under the clear level (225 kW), not in the band
        ("resolved", T0 + minutes(18) + SECOND),
    ]
    (row,) = alert_rows(line.backend, SPIKE)
    # 200 kW over expected is four times the allowed 50 kW excess: critical
    assert row.status == "resolved" and row.severity == "critical"
    assert row.message == (
        "Spike on Press line 1 (meter el-press-1, area Press shop): 400.0 kW vs 200.0 kW "
        "expected (threshold 250.0 kW) since 10:05"
    )
    assert (row.observed, row.expected, row.threshold) == pytest.approx((400.0, 200.0, 250.0))
    assert row.unit == "kW"
    assert row.details["since"] == "2026-06-16T02:05:00Z"
    assert row.details["expectation"] == "hour_of_week"
    assert row.note is not None and row.note.startswith("back to normal since 10:13")


def test_a_short_spike_does_not_open(line: Line, plant: Plant) -> None:
    with_history(line)
    engine = make_engine(line.backend, plant)
    made: list[AlertTransition] = []
    for minute, kw in enumerate([200.0, 600.0, 600.0, 200.0, 600.0, 200.0], start=1):
        at = T0 + minutes(minute)
        line.power("el-press-1", at, kw)
        made += engine.evaluate_once(at + SECOND)
    assert keyed(made, SPIKE) == []


def test_two_engines_open_one_alert_per_condition(line: Line, plant: Plant) -> None:
    with_history(line)
    engines = [make_engine(line.backend, plant), make_engine(line.backend, plant)]
    made: list[AlertTransition] = []
    for minute in range(1, 20):
        at = T0 + minutes(minute)
        line.power("el-press-1", at, 400.0 if 3 <= minute < 8 else 200.0)
        for engine in engines:
            made += engine.evaluate_once(at + SECOND)
    assert [event for event, _ in keyed(made, SPIKE)] == ["opened", "resolved"]
    assert len(alert_rows(line.backend, SPIKE)) == 1
    # the second engine adopted the open alert, cleared it too and found it resolved
    assert engines[1].metrics["already_resolved"] == 1
    assert keyed(engines[1].transitions, SPIKE) == []


def test_losing_the_insert_race_counts_as_already_open(line: Line, plant: Plant) -> None:
    """Two transactions insert the same condition at once: the unique index keeps one."""
    candidate = AlertCandidate(
        AlertKind.SPIKE, AlertScope.METER, "el-press-1", Severity.WARNING, "spike", T0
    )
    target = Target("plant-a", "press", "el-press-1")
    first_inserted = threading.Event()
    results: dict[str, object] = {}

    def second() -> None:
        first_inserted.wait(timeout=10)
        with transaction(line.backend.factory) as session:
            results["second"] = alert_store.insert_alert(session, candidate, target, now=T0)

    thread = threading.Thread(target=second)
    thread.start()
    with transaction(line.backend.factory) as session:
        results["first"] = alert_store.insert_alert(session, candidate, target, now=T0)
        first_inserted.set()
        thread.join(timeout=0.5)  # the second insert waits on our lock meanwhile
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert results["first"] is not None
    assert results["second"] is None
    assert len(alert_rows(line.backend, SPIKE)) == 1


def test_offline_opens_after_missed_intervals_and_resolves_on_a_reading(
    line: Line, plant: Plant
) -> None:
    engine = make_engine(line.backend, plant)
    line.power("el-press-2", T0, 100.0)
    made: list[AlertTransition] = []
    for second in range(0, 301, 30):
        made += engine.evaluate_once(T0 + timedelta(seconds=second))
    key = "offline:meter:el-press-2"
    # 3 × 60 s without a reading: open at the first check past 180 s
    assert keyed(made, key) == [("opened", T0 + timedelta(seconds=210))]
    (row,) = alert_rows(line.backend, key)
    assert row.message == (
        "No readings from Press line 2 (meter el-press-2, area Press shop): silent since 10:00"
    )
    line.power("el-press-2", T0 + timedelta(seconds=320), 100.0)
    made = engine.evaluate_once(T0 + timedelta(seconds=321))
    assert keyed(made, key) == [("resolved", T0 + timedelta(seconds=321))]
    (row,) = alert_rows(line.backend, key)
    assert row.status == "resolved" and row.note == "readings resumed at 10:05"


def test_never_seen_meters_get_a_grace_period_from_engine_start(line: Line, plant: Plant) -> None:
    engine = make_engine(line.backend, plant)
    assert engine.evaluate_once(T0) == []
    assert engine.evaluate_once(T0 + timedelta(seconds=180)) == []
    made = engine.evaluate_once(T0 + timedelta(seconds=181))
    assert {t.condition_key for t in made} == {
        "offline:meter:el-press-1",
        "offline:meter:el-press-2",
        "offline:meter:pv-roof",
    }


def test_a_restarted_engine_resolves_what_its_predecessor_opened(line: Line, plant: Plant) -> None:
    first = make_engine(line.backend, plant)
    line.power("el-press-2", T0, 100.0)
    first.evaluate_once(T0)
    assert keyed(first.evaluate_once(T0 + minutes(4)), "offline:meter:el-press-2")
    restarted = make_engine(line.backend, plant)
    line.power("el-press-2", T0 + minutes(5), 100.0)
    made = restarted.evaluate_once(T0 + minutes(5) + SECOND)
    assert keyed(made, "offline:meter:el-press-2") == [("resolved", T0 + minutes(5) + SECOND)]


def test_area_spike_sums_the_feeders(line: Line, plant: Plant) -> None:
    # both feeders at 100 kW for three weeks: the area expects 200 kW
    line.history("el-press-1", T0 - timedelta(days=21), T0, 100.0)
    line.history("el-press-2", T0 - timedelta(days=21), T0, 100.0)
    engine = make_engine(line.backend, plant)
    made: list[AlertTransition] = []
    for minute in range(1, 8):
        at = T0 + minutes(minute)
        # feeder 1 steady, feeder 2 nearly doubles from minute 3: the area is at 290 kW
        line.power("el-press-1", at, 100.0)
        line.power("el-press-2", at, 100.0 if minute < 3 else 190.0)
        made += engine.evaluate_once(at + SECOND)
    area = alert_rows(line.backend, AREA_SPIKE)
    assert [event for event, _ in keyed(made, AREA_SPIKE)] == ["opened"]
    assert area[0].area_id == "press" and area[0].meter_id is None
    assert area[0].message == (
        "Spike on area Press shop (sum of 2 electricity feeders): 290.0 kW vs 200.0 kW "
        "expected (threshold 250.0 kW) since 10:03"
    )


def test_pv_shortfall_only_in_daylight(line: Line, plant: Plant) -> None:
    engine = make_engine(line.backend, plant)
    made: list[AlertTransition] = []
    night = T0.replace(hour=16)  # 00:00 in Gui'an: 0 kW is right
    for minute in range(0, 120):
        at = night + minutes(minute)
        line.power("pv-roof", at, 0.0)
        made += engine.evaluate_once(at + SECOND)
    assert keyed(made, PV) == []
    noon = T0.replace(day=17, hour=4)  # 12:00, clear sky allows ~860 kW of 1000 kWp
    for minute in range(0, 40):
        at = noon + minutes(minute)
        line.power("pv-roof", at, 50.0)
        made += engine.evaluate_once(at + SECOND)
    # the default minimum duration for PV is 30 minutes: dark clouds are not a fault
    assert keyed(made, PV) == [("opened", noon + minutes(30) + SECOND)]
    (row,) = alert_rows(line.backend, PV)
    assert row.observed == 50.0 and row.expected is not None and row.expected > 800
    assert row.message.startswith("PV far below clear-sky output on Roof PV inverter")


def test_register_events_are_informational_and_close_by_themselves(
    line: Line, plant: Plant
) -> None:
    engine = make_engine(line.backend, plant)
    engine.evaluate_once(T0)  # the cursor starts here: older events are history
    line.value("el-press-1", T0 + minutes(1), 5000.0)
    line.value("el-press-1", T0 + minutes(2), 5010.0)
    line.value("el-press-1", T0 + minutes(3), 12.0)  # the register was reset
    made = engine.evaluate_once(T0 + minutes(3) + SECOND)
    assert keyed(made, EVENT) == [("opened", T0 + minutes(3) + SECOND)]
    (row,) = alert_rows(line.backend, EVENT)
    assert row.severity == "info" and row.status == "open"
    assert row.message.startswith("Register event on Press line 1")
    assert alert_schemas.alert_json(row)["details"]["events"][0]["kind"] == "reset"
    line.value("el-press-1", T0 + minutes(4), 2.0)  # and again
    made = engine.evaluate_once(T0 + minutes(4) + SECOND)
    assert [event for event, _ in keyed(made, EVENT)] == ["updated"]
    assert keyed(engine.evaluate_once(T0 + minutes(19)), EVENT) == []  # 15 min not yet up
    made = engine.evaluate_once(T0 + minutes(19) + 2 * SECOND)
    assert [event for event, _ in keyed(made, EVENT)] == ["resolved"]
    (row,) = alert_rows(line.backend, EVENT)
    assert row.details["event_count"] == 2 and row.status == "resolved"


def test_a_second_engine_never_handles_the_same_register_event(line: Line, plant: Plant) -> None:
    engines = [make_engine(line.backend, plant), make_engine(line.backend, plant)]
    for engine in engines:
        engine.evaluate_once(T0)
    line.value("el-press-1", T0 + minutes(1), 5000.0)
    line.value("el-press-1", T0 + minutes(2), 1.0)
    made = [t for e in engines for t in e.evaluate_once(T0 + minutes(2) + SECOND)]
    assert [event for event, _ in keyed(made, EVENT)] == ["opened"]


def test_a_disabled_rule_resolves_and_silences(line: Line, plant: Plant) -> None:
    engine = make_engine(line.backend, plant)
    engine.evaluate_once(T0)
    made = engine.evaluate_once(T0 + minutes(4))
    assert keyed(made, "offline:meter:pv-roof")
    with transaction(line.backend.factory) as session:
        overrides.put_override(session, "meter", "pv-roof", {"enabled": False}, now=T0)
    made = engine.evaluate_once(T0 + minutes(5))
    assert keyed(made, "offline:meter:pv-roof") == [("resolved", T0 + minutes(5))]
    assert keyed(engine.evaluate_once(T0 + minutes(30)), "offline:meter:pv-roof") == []


def test_a_resolution_by_hand_is_not_reopened_while_the_condition_lasts(
    line: Line, plant: Plant
) -> None:
    engine = make_engine(line.backend, plant)
    engine.evaluate_once(T0)
    engine.evaluate_once(T0 + minutes(4))
    (row,) = alert_rows(line.backend, "offline:meter:pv-roof")
    with transaction(line.backend.factory) as session:
        alert_store.resolve_alert(
            session, row.id, now=T0 + minutes(5), by="op", note="inverter off for service"
        )
    made = engine.evaluate_once(T0 + minutes(10))
    assert keyed(made, "offline:meter:pv-roof") == []
    assert len(alert_rows(line.backend, "offline:meter:pv-roof")) == 1


def test_a_failed_write_is_retried_not_lost(
    line: Line, plant: Plant, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(line.backend, plant)
    line.power("el-press-2", T0, 100.0)
    engine.evaluate_once(T0)

    def database_gone(*args: object, **kwargs: object) -> AlertRow | None:
        raise OperationalError("INSERT INTO alerts", {}, Exception("database went away"))

    with monkeypatch.context() as patch:
        patch.setattr(alert_store, "insert_alert", database_gone)
        made = engine.evaluate_once(T0 + minutes(4))
    assert made == [] and engine.metrics["write_errors"] >= 1
    made = engine.evaluate_once(T0 + minutes(4) + SECOND)
    assert keyed(made, "offline:meter:el-press-2") == [("opened", T0 + minutes(4) + SECOND)]


def test_acknowledged_alerts_still_resolve_automatically(line: Line, plant: Plant) -> None:
    engine = make_engine(line.backend, plant)
    line.power("el-press-2", T0, 100.0)
    engine.evaluate_once(T0)
    engine.evaluate_once(T0 + minutes(4))
    with transaction(line.backend.factory) as session:
        session.execute(
            update(AlertRow)
            .where(AlertRow.condition_key == "offline:meter:el-press-2")
            .values(status="acknowledged", acknowledged_by="op", acknowledged_at=T0 + minutes(4))
        )
    line.power("el-press-2", T0 + minutes(5), 100.0)
    made = engine.evaluate_once(T0 + minutes(5) + SECOND)
    assert [e for e, _ in keyed(made, "offline:meter:el-press-2")] == ["resolved"]


def test_a_restart_keeps_a_never_seen_meters_alert_open(line: Line, plant: Plant) -> None:
    first = make_engine(line.backend, plant)
    first.evaluate_once(T0)
    assert keyed(first.evaluate_once(T0 + minutes(4)), "offline:meter:pv-roof")
    restarted = make_engine(line.backend, plant)
    for minute in (5, 6, 10):  # silent since 10:00, not since the restart
        assert keyed(restarted.evaluate_once(T0 + minutes(minute)), "offline:meter:pv-roof") == []
    (row,) = alert_rows(line.backend, "offline:meter:pv-roof")
    assert row.status == "open"


def test_the_engine_counters_are_exported_to_prometheus(line: Line, plant: Plant) -> None:
    engine = make_engine(line.backend, plant)
    engine.evaluate_once(T0)
    made = engine.evaluate_once(T0 + minutes(4))  # no meter ever reported: offline alerts
    sample = engine.registry.get_sample_value
    name = "greenpulse_alert_engine_events_total"
    assert sample(name, {"event": "evaluations"}) == 2
    assert sample(name, {"event": "opened"}) == len(made) > 0
    assert sample(name, {"event": "opened"}) == engine.metrics["opened"]


def test_a_transition_the_domain_refuses_is_counted_and_retried(line: Line, plant: Plant) -> None:
    engine = make_engine(line.backend, plant)
    engine.evaluate_once(T0)
    opened = engine.evaluate_once(T0 + minutes(4))
    assert opened
    # a clock behind the alerts' opening: the domain refuses to resolve them, which is
    # counted and retried; the engine keeps running
    with transaction(line.backend.factory) as session:
        session.execute(update(AlertRow).values(opened_at=T0 + minutes(60)))
    line.power("el-press-1", T0 + minutes(5), 200.0)
    engine.evaluate_once(T0 + minutes(5))
    assert engine.metrics["refused_transitions"] >= 1
