"""A meter its edge node declared dead (``meter_state.offline_since``) is offline at the
alert engine's next evaluation, dated at the death; a newer reading clears it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.alerts.conditions import Clear, ConditionTracker, Open, Reading
from app.alerts.rules import EffectiveRules
from app.plant.file import load_plant

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_a_declared_death_opens_the_offline_alert_at_once() -> None:
    site = load_plant().sites[0]
    meter = next(m for m in site.meters if m.id == "el-grid-in-1")
    rules = EffectiveRules()
    heard = NOW - timedelta(seconds=10)  # well inside the expected interval
    died = NOW - timedelta(seconds=2)
    tracker = ConditionTracker()

    alive = tracker.offline(site, meter, rules, Reading(heard, 5.0, heard), NOW, None)
    assert alive.action is None
    alive.commit()

    dead = Reading(heard, 5.0, heard, offline_since=died)
    step = tracker.offline(site, meter, rules, dead, NOW, None)
    assert isinstance(step.action, Open)
    assert step.action.candidate.since == died
    step.commit()

    back = NOW + timedelta(seconds=30)
    again = tracker.offline(site, meter, rules, Reading(back, 5.0, back), back, None)
    assert isinstance(again.action, Clear)
