"""What the meters report: registers decode back to the truth; faults when asked for."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from app.domain.plant import Plant, Resource
from app.domain.registers import RegisterKind
from simulator.core import PlantSimulator
from simulator.meters import SimReading
from simulator.options import SimOptions
from tests.simulator.oracle import (
    by_meter,
    conversion,
    decode_cumulative,
    meters_by_id,
    register_step,
)

START = datetime(2026, 11, 18, 1, 0, tzinfo=UTC)  # a Wednesday, 09:00 in Gui'an


def run(
    plant: Plant, hours: float, options: SimOptions | None = None, seed: int = 5
) -> list[SimReading]:
    sim = PlantSimulator(plant, seed=seed, start=START, options=options)
    return sim.advance(START + timedelta(hours=hours))


def test_every_meter_reports_in_its_unit(plant: Plant) -> None:
    readings = run(plant, 1)
    meters = meters_by_id()
    assert {r.meter_id for r in readings} == set(meters)
    for r in readings:
        assert r.unit == meters[r.meter_id].unit
        assert r.time.utcoffset() == timedelta(hours=8)
        assert r.value >= 0


def test_cumulative_deltas_times_multiplier_are_the_true_energy(plant: Plant) -> None:
    meters = meters_by_id()
    checked = 0
    for meter_id, readings in by_meter(run(plant, 6)).items():
        meter = meters[meter_id]
        if meter.register_kind is not RegisterKind.CUMULATIVE:
            continue
        step = register_step(meter)
        for previous, current in itertools.pairwise(readings):
            decoded = decode_cumulative(meter, previous.value, current.value)
            true = current.true_total - previous.true_total
            assert true == pytest.approx(current.true_quantity)
            assert abs(decoded - true) <= step * 1.001 + 1e-9, meter_id
            checked += 1
        # errors never accumulate: first to last agrees within one step too
        whole = sum(
            decode_cumulative(meter, a.value, b.value) for a, b in itertools.pairwise(readings)
        )
        assert whole == pytest.approx(readings[-1].true_total - readings[0].true_total, abs=step)
    assert checked > 1000


def test_interval_registers_report_the_interval_quantity(plant: Plant) -> None:
    meters = meters_by_id()
    for meter_id, readings in by_meter(run(plant, 6)).items():
        meter = meters[meter_id]
        if meter.register_kind is not RegisterKind.INTERVAL:
            continue
        step = register_step(meter)
        for r in readings:
            assert abs(r.value * conversion(meter) - r.true_quantity) <= step * 1.001
        total = sum(r.value for r in readings) * conversion(meter)
        assert total == pytest.approx(sum(r.true_quantity for r in readings), abs=step)


def test_instantaneous_registers_integrate_to_the_true_energy(plant: Plant) -> None:
    meters = meters_by_id()
    for meter_id, readings in by_meter(run(plant, 6)).items():
        meter = meters[meter_id]
        if meter.register_kind is not RegisterKind.INSTANTANEOUS:
            continue
        for r in readings:
            assert r.value * conversion(meter) == pytest.approx(r.true_rate, abs=0.051)
        trapezoid = sum(
            (a.value + b.value) / 2 * conversion(meter) * (b.time - a.time).total_seconds() / 3600
            for a, b in itertools.pairwise(readings)
        )
        true = readings[-1].true_total - readings[0].true_total
        assert trapezoid == pytest.approx(true, rel=0.03), meter_id


def test_clean_meters_have_no_faults(plant: Plant) -> None:
    readings = run(plant, 6)
    assert not any(r.tags for r in readings)
    for meter_readings in by_meter(readings).values():
        seqs = [r.seq for r in meter_readings]
        assert seqs == list(range(1, len(seqs) + 1))
        assert all(r.sent_at == r.time for r in meter_readings)


def test_readings_come_out_in_sending_order(plant: Plant) -> None:
    readings = run(plant, 2, SimOptions.realistic())
    assert [r.sent_at for r in readings] == sorted(r.sent_at for r in readings)


def test_rollover_happens_near_the_start_when_enabled(plant: Plant) -> None:
    readings = run(plant, 3, SimOptions(near_rollover=True))
    meters = meters_by_id()
    rolled = {r.meter_id for r in readings if "rollover" in r.tags}
    cumulative_with_rollover = {
        m.id
        for m in meters.values()
        if m.register_kind is RegisterKind.CUMULATIVE and m.rollover is not None
    }
    # every busy register wraps within three hours (an idle one may not)
    assert len(rolled) >= 0.8 * len(cumulative_with_rollover)
    for meter_id in rolled:
        meter = meters[meter_id]
        series = by_meter(readings)[meter_id]
        for previous, current in itertools.pairwise(series):
            decoded = decode_cumulative(meter, previous.value, current.value)
            assert decoded == pytest.approx(current.true_quantity, abs=register_step(meter) * 1.001)
    assert not any("rollover" in r.tags for r in run(plant, 3))


def test_resets_and_replacements_are_drops_and_tagged(plant: Plant) -> None:
    options = SimOptions(resets_per_meter_day=20, replacements_per_meter_day=5)
    readings = run(plant, 6, options)
    meters = meters_by_id()
    tags = Counter(tag for r in readings for tag in r.tags)
    assert tags["reset"] > 10
    assert tags["replacement"] > 2
    for meter_id, series in by_meter(readings).items():
        meter = meters[meter_id]
        if meter.register_kind is not RegisterKind.CUMULATIVE:
            assert not series or not any(r.tags for r in series)
            continue
        for previous, current in itertools.pairwise(series):
            if "reset" in current.tags:
                # the register restarted from 0 within the last interval
                assert current.value * conversion(meter) <= current.true_quantity + 1e-6
            elif not current.tags:
                decoded = decode_cumulative(meter, previous.value, current.value)
                assert decoded == pytest.approx(
                    current.true_quantity, abs=register_step(meter) * 1.001
                )


def test_realistic_faults_still_decode_apart_from_resets(plant: Plant) -> None:
    """Sort by time, drop duplicates, skip resets: the rest decodes to the truth."""
    readings = run(plant, 24, SimOptions.realistic(), seed=11)
    tags = Counter(tag for r in readings for tag in r.tags)
    assert tags["late"] > 0
    assert tags["duplicate"] > 0
    meters = meters_by_id()
    gaps = 0
    for meter_id, series in by_meter(readings).items():
        meter = meters[meter_id]
        unique = sorted({r.seq: r for r in series}.values(), key=lambda r: r.time)
        gaps += sum(1 for a, b in itertools.pairwise(unique) if b.seq != a.seq + 1)
        if meter.register_kind is not RegisterKind.CUMULATIVE:
            continue
        for previous, current in itertools.pairwise(unique):
            if current.tags & {"reset", "replacement"}:
                continue
            decoded = decode_cumulative(meter, previous.value, current.value)
            true = current.true_total - previous.true_total
            assert decoded == pytest.approx(true, abs=register_step(meter) * 1.001), meter_id
    assert gaps > 0  # dropouts leave holes in the sequence numbers


def test_late_bursts_arrive_late_and_out_of_order(plant: Plant) -> None:
    options = SimOptions(late_bursts_per_gateway_day=12)
    readings = run(plant, 6, options)
    late = [r for r in readings if "late" in r.tags]
    assert late
    assert all(r.sent_at > r.time for r in late)
    by_gateway: dict[str, list[SimReading]] = {}
    for r in late:
        by_gateway.setdefault(r.gateway, []).append(r)
    out_of_order = any(
        [r.time for r in burst] != sorted(r.time for r in burst) for burst in by_gateway.values()
    )
    assert out_of_order


def test_duplicates_repeat_the_same_reading(plant: Plant) -> None:
    readings = run(plant, 2, SimOptions(duplicate_fraction=0.05))
    duplicates = [r for r in readings if "duplicate" in r.tags]
    assert duplicates
    originals = {(r.meter_id, r.seq): r for r in readings if "duplicate" not in r.tags}
    for dup in duplicates:
        original = originals[(dup.meter_id, dup.seq)]
        assert (dup.time, dup.value, dup.unit) == (original.time, original.value, original.unit)
        assert dup.sent_at > original.sent_at


def test_dropouts_silence_meters_without_losing_energy(plant: Plant) -> None:
    readings = run(plant, 24, SimOptions(dropouts_per_meter_day=4))
    meters = meters_by_id()
    silent = 0
    for meter_id, series in by_meter(readings).items():
        meter = meters[meter_id]
        for previous, current in itertools.pairwise(series):
            if current.seq == previous.seq + 1:
                continue
            silent += 1
            if meter.register_kind is RegisterKind.CUMULATIVE:
                decoded = decode_cumulative(meter, previous.value, current.value)
                true = current.true_total - previous.true_total
                assert decoded == pytest.approx(true, abs=register_step(meter) * 1.001)
    assert silent > 10


def test_same_seed_same_readings_different_seed_different(plant: Plant) -> None:
    options = SimOptions.realistic()
    first = run(plant, 3, options, seed=42)
    assert run(plant, 3, options, seed=42) == first
    other = run(plant, 3, options, seed=43)
    assert [r.value for r in other] != [r.value for r in first]


def test_chunking_does_not_change_the_readings(plant: Plant) -> None:
    options = SimOptions.realistic()
    whole = run(plant, 3, options, seed=9)
    sim = PlantSimulator(plant, seed=9, start=START, options=options)
    chunked: list[SimReading] = []
    t = START
    step = timedelta(seconds=0)
    while t < START + timedelta(hours=3):
        step = timedelta(seconds=(step.total_seconds() * 7 + 13) % 900 + 1)
        t = min(t + step, START + timedelta(hours=3))
        chunked.extend(sim.advance(t))
    assert chunked == whole


def test_production_counters_count_whole_units(plant: Plant) -> None:
    meters = meters_by_id()
    for r in run(plant, 1):
        if meters[r.meter_id].resource is Resource.PRODUCTION:
            assert r.value == int(r.value)


def test_time_only_goes_forward(plant: Plant) -> None:
    sim = PlantSimulator(plant, seed=1, start=START)
    sim.advance(START + timedelta(minutes=5))
    with pytest.raises(ValueError, match="back in time"):
        sim.advance(START)


def test_start_must_be_aware(plant: Plant) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        PlantSimulator(plant, seed=1, start=datetime(2026, 1, 1))


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="jitter"):
        SimOptions(jitter_fraction=0.7)
    with pytest.raises(ValueError, match="dropouts_per_meter_day"):
        SimOptions(dropouts_per_meter_day=-1)
    with pytest.raises(ValueError, match="dropout_s"):
        SimOptions(dropout_s=(10, 7200))
    assert SimOptions.clean() == SimOptions()
