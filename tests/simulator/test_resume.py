"""A resumed plant: cumulative registers read on from where the plant was left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.domain.plant import Plant
from app.domain.registers import RegisterKind
from simulator.core import PlantSimulator
from simulator.meters import SimReading
from simulator.options import SimOptions
from tests.simulator.oracle import by_meter, conversion, meters_by_id

START = datetime(2026, 11, 18, 1, 0, tzinfo=UTC)  # a Wednesday, 09:00 in Gui'an
LEFT_AT = START + timedelta(hours=3)
RESUMED_AT = LEFT_AT + timedelta(minutes=7)  # the plant was stopped for a while


def kept_registers(readings: list[SimReading]) -> dict[str, float]:
    """The newest register of every cumulative meter, canonical, as ``meter_state`` keeps it."""
    meters = meters_by_id()
    kept: dict[str, float] = {}
    for meter_id, rows in by_meter(readings).items():
        meter = meters[meter_id]
        if meter.register_kind is RegisterKind.CUMULATIVE:
            kept[meter_id] = max(rows, key=lambda r: r.time).value * conversion(meter)
    return kept


def test_resumed_registers_continue_monotonically(plant: Plant) -> None:
    # near_rollover: some registers wrap before the plant is left, and must resume wrapped
    options = SimOptions(near_rollover=True)
    before = PlantSimulator(plant, seed=3, start=START, options=options).advance(LEFT_AT)
    kept = kept_registers(before)
    assert len(kept) >= 30, "the demo plant has dozens of cumulative meters"

    resumed = PlantSimulator(plant, seed=3, start=RESUMED_AT, options=options, registers=kept)
    after = by_meter(resumed.advance(RESUMED_AT + timedelta(hours=1)))
    meters = meters_by_id()
    for meter_id, last in kept.items():
        rows = sorted(after[meter_id], key=lambda r: r.time)
        values = [r.value * conversion(meters[meter_id]) for r in rows]
        step = 10.0**-6 * max(1.0, last)
        # the first reading after the restart is where the plant was left, or a little on
        assert values[0] >= last - step, (meter_id, last, values[0])
        for a, b, row in zip(values, values[1:], rows[1:], strict=False):
            # later on a register may wrap at its rollover, as any register does
            assert b >= a - step or row.tags == {"rollover"}, (meter_id, a, b, row.tags)
        assert not any({"reset", "replacement", "rollover"} & r.tags for r in rows[:1])


def test_without_kept_registers_a_restart_starts_afresh(plant: Plant) -> None:
    """The oracle can fail: a simulator started afresh shows other register values."""
    before = PlantSimulator(plant, seed=3, start=START).advance(LEFT_AT)
    kept = kept_registers(before)
    fresh = by_meter(
        PlantSimulator(plant, seed=3, start=RESUMED_AT).advance(RESUMED_AT + timedelta(minutes=20))
    )
    meters = meters_by_id()
    lower = [m for m, last in kept.items() if fresh[m][0].value * conversion(meters[m]) < last]
    assert lower, "a fresh start puts cumulative registers back to their initial values"


def test_resuming_does_not_change_consumption(plant: Plant) -> None:
    """Only the register's offset is resumed: the true consumption is the same plant's."""
    kept = kept_registers(PlantSimulator(plant, seed=3, start=START).advance(LEFT_AT))
    plain = PlantSimulator(plant, seed=3, start=RESUMED_AT).advance(RESUMED_AT + timedelta(hours=1))
    resumed = PlantSimulator(plant, seed=3, start=RESUMED_AT, registers=kept).advance(
        RESUMED_AT + timedelta(hours=1)
    )
    assert [(r.meter_id, r.time, r.true_quantity) for r in plain] == [
        (r.meter_id, r.time, r.true_quantity) for r in resumed
    ]
