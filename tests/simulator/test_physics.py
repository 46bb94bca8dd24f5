"""Physical plausibility of the simulated plant (true quantities, not exact numbers)."""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from datetime import date, datetime, timedelta

import pytest

from app.domain.plant import Plant, Resource
from app.domain.solar import solar_noon_utc
from tests.simulator.oracle import (
    by_meter,
    meters_by_id,
    simulate_day,
    true_sum,
)

WEDNESDAY = date(2026, 11, 18)
SATURDAY = date(2026, 11, 21)
SUNDAY = date(2026, 11, 22)
NATIONAL_DAY = date(2026, 10, 2)
MONDAY = date(2026, 11, 23)


def pv_rating_kw(plant: Plant) -> float:
    return sum(m.rated_kw or 0 for _, m in plant.meters() if m.resource is Resource.PV)


def test_demo_plant_has_19_47_mwp(plant: Plant) -> None:
    assert pv_rating_kw(plant) == pytest.approx(19_470)


@pytest.mark.parametrize(
    ("day", "seed"),
    [
        (date(2026, 1, 14), 1),
        (date(2026, 4, 8), 1),
        (date(2026, 7, 22), 1),
        (date(2026, 10, 14), 1),
        (date(2026, 1, 14), 2),
        (date(2026, 7, 22), 3),
    ],
)
def test_daily_pv_yield_is_plausible_for_guizhou(plant: Plant, day: date, seed: int) -> None:
    kwh = true_sum(simulate_day(day, seed), Resource.PV)
    assert 0.5 <= kwh / pv_rating_kw(plant) <= 6.0


def test_no_pv_at_local_night() -> None:
    meters = meters_by_id()
    for r in simulate_day(WEDNESDAY):
        if meters[r.meter_id].resource is Resource.PV and (r.time.hour < 5 or r.time.hour >= 20):
            assert r.true_rate == 0
            assert r.true_quantity == 0


def test_pv_peaks_near_local_solar_noon() -> None:
    day = date(2026, 4, 8)
    meters = meters_by_id()
    power_at: dict[datetime, float] = defaultdict(float)
    for r in simulate_day(day, clouds=False):
        if meters[r.meter_id].resource is Resource.PV:
            power_at[r.time.replace(second=0, microsecond=0)] += r.true_rate
    peak = max(power_at, key=lambda t: power_at[t])
    assert abs((peak - solar_noon_utc(day, 106.47)).total_seconds()) <= 30 * 60


def test_clouds_lower_and_roughen_pv() -> None:
    day = date(2026, 4, 8)
    cloudy = true_sum(simulate_day(day), Resource.PV)
    clear = true_sum(simulate_day(day, clouds=False), Resource.PV)
    assert cloudy < clear


def _feeders_kwh(day: date) -> float:
    return true_sum(simulate_day(day), Resource.ELECTRICITY)


def test_less_electricity_at_weekends_and_holidays() -> None:
    weekday = _feeders_kwh(WEDNESDAY)
    weekend = (_feeders_kwh(SATURDAY) + _feeders_kwh(SUNDAY)) / 2
    assert _feeders_kwh(SUNDAY) < 0.9 * weekday
    assert weekend < weekday
    assert _feeders_kwh(NATIONAL_DAY) < _feeders_kwh(SUNDAY)
    # a battery plant never stops: dry rooms and formation keep drawing power
    assert _feeders_kwh(NATIONAL_DAY) > 0.3 * weekday


def test_electricity_is_sized_by_rating() -> None:
    meters = meters_by_id()
    for meter_id, readings in by_meter(simulate_day(WEDNESDAY)).items():
        meter = meters[meter_id]
        if meter.resource is Resource.ELECTRICITY:
            assert meter.rated_kw is not None
            mean_kw = sum(r.true_quantity for r in readings) / 24
            assert 0.05 * meter.rated_kw < mean_kw < meter.rated_kw
            assert max(r.true_rate for r in readings) <= meter.rated_kw


def test_other_resources_stay_below_their_plausible_rate() -> None:
    meters = meters_by_id()
    for r in simulate_day(WEDNESDAY):
        limit = meters[r.meter_id].plausible_rate_per_hour()
        if limit is not None:
            assert r.true_rate <= limit


def test_grid_balances_consumption_and_pv() -> None:
    readings = simulate_day(date(2026, 4, 8))
    imported = true_sum(readings, Resource.ELECTRICITY_IMPORT)
    exported = true_sum(readings, Resource.ELECTRICITY_EXPORT)
    feeders = true_sum(readings, Resource.ELECTRICITY)
    pv = true_sum(readings, Resource.PV)
    consumption = imported + pv - exported
    # the area feeders plus a few per cent of losses and unmetered loads
    assert feeders * 1.01 < consumption < feeders * 1.06


def test_production_drives_the_line_load() -> None:
    """Hour by hour over a Saturday and Sunday, coating power follows the coated rolls."""
    hourly: dict[str, dict[datetime, float]] = defaultdict(lambda: defaultdict(float))
    for day in (SATURDAY, SUNDAY):
        for r in simulate_day(day):
            if r.meter_id in {"prod-electrode", "el-coating-1"}:
                hourly[r.meter_id][r.time.replace(minute=0, second=0, microsecond=0)] += (
                    r.true_quantity
                )
    hours = sorted(hourly["prod-electrode"])
    rolls = [hourly["prod-electrode"][h] for h in hours]
    coating = [hourly["el-coating-1"].get(h, 0.0) for h in hours]
    assert statistics.correlation(rolls, coating) > 0.8


def test_process_water_reuse_follows_production() -> None:
    def reuse(day: date) -> float:
        return sum(r.true_quantity for r in simulate_day(day) if r.meter_id == "water-reuse-ro")

    assert reuse(NATIONAL_DAY) < 0.2 * reuse(WEDNESDAY)
    readings = simulate_day(WEDNESDAY)
    inlet = sum(r.true_quantity for r in readings if r.meter_id == "water-main")
    assert 0 < reuse(WEDNESDAY) < inlet


def test_gas_oven_warms_up_when_the_line_starts() -> None:
    """The coating line restarts on Monday 00:00 after the Sunday day shift."""
    oven = [r for r in simulate_day(MONDAY) if r.meter_id == "gas-coating-oven"]
    warmup = [r.true_rate for r in oven if r.time.hour == 0 and r.time.minute < 40]
    steady = [r.true_rate for r in oven if 3 <= r.time.hour < 6]
    assert statistics.mean(warmup) > 1.1 * statistics.mean(steady)
    sunday_evening = [
        r.true_rate
        for r in simulate_day(SUNDAY)
        if r.meter_id == "gas-coating-oven" and r.time.hour >= 17
    ]
    assert max(sunday_evening) == 0


def test_chillers_work_harder_in_summer() -> None:
    def chillers(day: date) -> float:
        return sum(
            r.true_quantity for r in simulate_day(day) if r.meter_id.startswith("el-chiller")
        )

    assert chillers(date(2026, 7, 22)) > 1.2 * chillers(date(2026, 1, 14))


def test_readings_arrive_at_the_expected_interval() -> None:
    meters = meters_by_id()
    for meter_id, readings in by_meter(simulate_day(WEDNESDAY)).items():
        expected = meters[meter_id].expected_interval_s
        assert len(readings) == pytest.approx(86400 / expected, abs=1)
        gaps = [(b.time - a.time).total_seconds() for a, b in itertools.pairwise(readings)]
        assert min(gaps) > 0.9 * expected
        assert max(gaps) < 1.1 * expected
        assert readings[0].time - readings[0].since <= timedelta(seconds=expected)
