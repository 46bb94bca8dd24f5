"""Injected events: spikes where and when asked, offline meters, tripped inverters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.domain.plant import Plant, Resource
from simulator.core import PlantSimulator
from simulator.events import Injection, InjectionKind, parse_spike, parse_window
from simulator.meters import SimReading
from tests.simulator.oracle import by_meter, decode_cumulative, meters_by_id, register_step

NIGHT = datetime(2026, 11, 17, 17, 0, tzinfo=UTC)  # Wednesday 01:00 in Gui'an: no PV
NOON = datetime(2026, 11, 18, 4, 0, tzinfo=UTC)  # Wednesday 12:00 in Gui'an


def simulate(plant: Plant, start: datetime, hours: float, **events: object) -> list[SimReading]:
    sim = PlantSimulator(plant, seed=3, start=start)
    for name, args in events.items():
        getattr(sim, name)(*args)  # type: ignore[misc]
    return sim.advance(start + timedelta(hours=hours))


def in_window(r: SimReading, start: datetime, end: datetime) -> bool:
    return start < r.since and r.time <= end


def test_spike_shows_on_the_meter_in_its_window_and_nowhere_else(plant: Plant) -> None:
    start = NIGHT + timedelta(minutes=30)
    end = start + timedelta(minutes=20)
    base = by_meter(simulate(plant, NIGHT, 2))
    spiked = by_meter(
        simulate(plant, NIGHT, 2, inject_spike=("el-comp-01", 3.0, start, timedelta(minutes=20)))
    )
    meters = meters_by_id()
    grid_meters = {m.id for m in meters.values() if m.resource is Resource.ELECTRICITY_IMPORT}
    for meter_id, readings in spiked.items():
        for before, after in zip(base[meter_id], readings, strict=True):
            assert before.time == after.time
            if meter_id == "el-comp-01" and in_window(after, start, end):
                assert after.true_quantity == pytest.approx(3 * before.true_quantity)
            elif meter_id in grid_meters and in_window(after, start, end):
                assert after.true_quantity > before.true_quantity
            elif meter_id == "el-comp-01" or meter_id in grid_meters:
                # outside the window the same power; the registers stay ahead
                if after.since >= end or after.time <= start:
                    assert after.true_quantity == pytest.approx(before.true_quantity)
            else:
                assert after == before, meter_id
    # the grid import carries the extra load (plus losses)
    extra = sum(
        a.true_quantity - b.true_quantity
        for meter_id in grid_meters
        for a, b in zip(spiked[meter_id], base[meter_id], strict=True)
    )
    compressor = sum(
        a.true_quantity - b.true_quantity
        for a, b in zip(spiked["el-comp-01"], base["el-comp-01"], strict=True)
    )
    assert compressor > 0
    assert extra == pytest.approx(compressor * 1.03, rel=0.01)


def test_spike_on_an_area_hits_all_its_meters(plant: Plant) -> None:
    sim = PlantSimulator(plant, seed=3, start=NIGHT)
    hit = sim.inject_spike("compressors", 2.0, NIGHT, 600)
    assert sorted(hit) == ["el-comp-01", "el-comp-02"]
    parent = sim.inject_spike("utilities", 1.5, NIGHT, 600)
    assert set(hit) < set(parent)
    assert "gas-boiler-01" in parent


def test_offline_meter_publishes_nothing_in_its_window(plant: Plant) -> None:
    start = NIGHT + timedelta(minutes=10)
    end = start + timedelta(minutes=30)
    readings = by_meter(simulate(plant, NIGHT, 2, take_offline=("el-office", start, 1800)))
    office = readings["el-office"]
    assert not [r for r in office if start <= r.time < end]
    assert len(office) == pytest.approx(120 - 30, abs=1)
    # the register kept counting: the first reading after covers the gap exactly
    after = next(i for i, r in enumerate(office) if r.time >= end)
    meter = meters_by_id()["el-office"]
    decoded = decode_cumulative(meter, office[after - 1].value, office[after].value)
    true = office[after].true_total - office[after - 1].true_total
    assert decoded == pytest.approx(true, abs=register_step(meter))
    assert office[after].seq == office[after - 1].seq + 31  # 30 readings never sent
    # other meters are unaffected
    assert len(readings["el-comp-01"]) == 120


@pytest.mark.parametrize("meter_id", ["pv-inv-03", "pv-inv-05"])  # cumulative, instantaneous
def test_tripped_inverter_produces_nothing(plant: Plant, meter_id: str) -> None:
    start = NOON
    end = NOON + timedelta(hours=1)
    readings = by_meter(
        simulate(plant, NOON - timedelta(hours=1), 3, trip_inverter=(meter_id, start, 3600))
    )
    tripped = [r for r in readings[meter_id] if in_window(r, start, end)]
    assert len(tripped) >= 55
    assert all(r.true_quantity == 0 and r.true_rate == 0 for r in tripped)
    values = [r.value for r in tripped]
    if meter_id == "pv-inv-05":
        assert set(values) == {0}
    else:
        assert len(set(values)) == 1  # the energy register stands still
    before = [r for r in readings[meter_id] if r.time <= start]
    assert sum(r.true_quantity for r in before[-10:]) > 0
    others = [r for r in readings["pv-inv-01"] if in_window(r, start, end)]
    assert sum(r.true_quantity for r in others) > 0


def test_unknown_targets_are_refused(plant: Plant) -> None:
    sim = PlantSimulator(plant, seed=3, start=NIGHT)
    with pytest.raises(ValueError, match="no meter or area"):
        sim.inject_spike("nope", 2, NIGHT, 60)
    with pytest.raises(ValueError, match="no meter"):
        sim.take_offline("nope", NIGHT, 60)
    with pytest.raises(ValueError, match="not a PV inverter"):
        sim.trip_inverter("el-comp-01", NIGHT, 60)
    with pytest.raises(ValueError, match="positive"):
        sim.inject_spike("el-comp-01", 0, NIGHT, 60)
    with pytest.raises(ValueError, match="positive"):
        sim.take_offline("el-comp-01", NIGHT, 0)


def test_cli_event_syntax() -> None:
    spike = parse_spike("el-comp-01:3:60:600")
    assert spike == Injection(InjectionKind.SPIKE, "el-comp-01", 60, 600, factor=3)
    assert parse_window(InjectionKind.TRIP, "pv-inv-03:-300:1800").start_offset_s == -300
    origin = datetime(2026, 11, 18, tzinfo=UTC)
    assert spike.window(origin) == (origin + timedelta(seconds=60), timedelta(seconds=600))
    for bad in ("el-comp-01:3:60", "el-comp-01:x:60:600", "el-comp-01:3:60:0", "a:-1:0:5"):
        with pytest.raises(ValueError, match="spike"):
            parse_spike(bad)
    with pytest.raises(ValueError, match="offline"):
        parse_window(InjectionKind.OFFLINE, "el-office:10")


def test_apply_uses_offsets_from_an_origin(plant: Plant) -> None:
    sim = PlantSimulator(plant, seed=3, start=NIGHT)
    sim.apply(parse_window(InjectionKind.OFFLINE, "el-office:0:600"), NIGHT)
    readings = sim.advance(NIGHT + timedelta(minutes=20))
    office = [r for r in readings if r.meter_id == "el-office"]
    assert all(r.time >= NIGHT + timedelta(minutes=10) for r in office)
