"""app.domain.solar: sun position against astral, clear-sky PV plausibility."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from astral import Observer
from astral.sun import azimuth, elevation
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.solar import (
    clear_sky_ghi_w_m2,
    clear_sky_pv_kw,
    clear_sky_pv_kwh,
    solar_elevation_deg,
    solar_noon_utc,
    sun_position,
)
from tests.simulator.oracle import local_midnight

GUIAN = (26.41, 106.47)
RATED_KW = 19_470.0

instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(when=instants, lat=st.floats(-65, 65), lon=st.floats(-180, 180))
def test_sun_position_agrees_with_astral(when: datetime, lat: float, lon: float) -> None:
    observer = Observer(lat, lon)
    expected = elevation(observer, when)
    position = sun_position(when, lat, lon)
    if expected > 3:  # near the horizon the refraction models differ
        assert position.elevation_deg == pytest.approx(expected, abs=0.1)
        az_diff = abs(position.azimuth_deg - azimuth(observer, when)) % 360
        assert min(az_diff, 360 - az_diff) < 0.2
    else:
        assert position.elevation_deg == pytest.approx(expected, abs=1.0)


@settings(max_examples=200, deadline=None)
@given(when=instants, lat=st.floats(-65, 65), lon=st.floats(-180, 180))
def test_clear_sky_pv_is_within_zero_and_rating(when: datetime, lat: float, lon: float) -> None:
    power = clear_sky_pv_kw(RATED_KW, when, lat, lon)
    assert 0 <= power <= RATED_KW
    if solar_elevation_deg(when, lat, lon) <= 0:
        assert power == 0


def test_no_pv_at_local_night() -> None:
    for day in (date(2026, 1, 10), date(2026, 6, 21), date(2026, 11, 22)):
        midnight = local_midnight(day)
        for hour in (0, 2, 4, 21, 23):
            assert clear_sky_pv_kw(RATED_KW, midnight + timedelta(hours=hour), *GUIAN) == 0


def test_solar_noon_in_guian_is_about_12_50_local() -> None:
    for day in (date(2026, 2, 11), date(2026, 6, 21), date(2026, 11, 3)):
        noon = solar_noon_utc(day, GUIAN[1])
        local = noon + timedelta(hours=8)
        assert 12 * 60 + 30 <= local.hour * 60 + local.minute <= 13 * 60 + 15
        # the sun is highest then
        high = solar_elevation_deg(noon, *GUIAN)
        for minutes in (-20, 20):
            assert solar_elevation_deg(noon + timedelta(minutes=minutes), *GUIAN) < high


def test_pv_peaks_at_solar_noon() -> None:
    day = date(2026, 4, 15)
    start = local_midnight(day)
    samples = [start + timedelta(minutes=m) for m in range(0, 1440, 5)]
    peak = max(samples, key=lambda t: clear_sky_pv_kw(RATED_KW, t, *GUIAN))
    assert abs((peak - solar_noon_utc(day, GUIAN[1])).total_seconds()) <= 300


@pytest.mark.parametrize(
    ("day", "low", "high"),
    [
        (date(2026, 12, 21), 3.0, 4.5),  # winter solstice: short, low sun
        (date(2026, 3, 20), 5.0, 6.5),
        (date(2026, 6, 21), 6.5, 8.0),  # summer solstice: sun nearly overhead at noon
    ],
)
def test_clear_sky_daily_yield_in_guian(day: date, low: float, high: float) -> None:
    start = local_midnight(day)
    kwh = clear_sky_pv_kwh(RATED_KW, start, start + timedelta(days=1), *GUIAN)
    assert low <= kwh / RATED_KW <= high


def test_irradiance_is_zero_below_horizon_and_below_solar_constant() -> None:
    assert clear_sky_ghi_w_m2(-5) == 0
    assert clear_sky_ghi_w_m2(0) == 0
    assert 0 < clear_sky_ghi_w_m2(10) < clear_sky_ghi_w_m2(60) < clear_sky_ghi_w_m2(90) < 1361


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        clear_sky_pv_kw(100, datetime(2026, 6, 1, 12), *GUIAN)


def test_bad_arguments_are_refused() -> None:
    when = datetime(2026, 6, 1, 4, tzinfo=UTC)
    with pytest.raises(ValueError, match="rated_kw"):
        clear_sky_pv_kw(-1, when, *GUIAN)
    with pytest.raises(ValueError, match="performance_ratio"):
        clear_sky_pv_kw(1, when, *GUIAN, performance_ratio=1.5)
