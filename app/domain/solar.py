"""Where the sun is and what a PV array could deliver under a clear sky.

Pure maths, no I/O; every time is passed in and must be timezone-aware.

- Sun position: NOAA's solar calculator (Meeus' low-precision formulas, about
  0.01 degree in elevation for 1800-2100), with NOAA's refraction correction.
- Clear-sky irradiance: the Haurwitz (1945) model of global horizontal
  irradiance, ``GHI = 1098 W/m² · cos z · exp(-0.057 / cos z)``. It needs only
  the zenith angle and is within about 10 % of measured clear-sky GHI; it has
  no turbidity, so hazy sites sit below it (the ratio alerting uses allows for that).
- PV power: ``rated_kw · GHI / 1000 W/m² · performance_ratio``, capped at the
  rating. Roof arrays in low latitudes are close to horizontal, and the
  performance ratio lumps inverter, temperature, soiling and wiring losses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

STC_IRRADIANCE_W_M2: Final = 1000.0
"""Irradiance at which a PV module's rating applies (standard test conditions)."""

DEFAULT_PERFORMANCE_RATIO: Final = 0.85
"""AC output per kWp per kW/m² of irradiance for a well-kept rooftop system."""

_JULIAN_UNIX_EPOCH: Final = 2440587.5
_J2000: Final = 2451545.0


@dataclass(frozen=True)
class SunPosition:
    """The sun as seen from one place at one instant.

    Attributes:
        elevation_deg: apparent elevation above the horizon (refraction included).
        azimuth_deg: compass bearing, clockwise from north.
        declination_deg: the sun's declination.
        equation_of_time_min: apparent minus mean solar time, in minutes.
    """

    elevation_deg: float
    azimuth_deg: float
    declination_deg: float
    equation_of_time_min: float


def _utc(when: datetime) -> datetime:
    if when.utcoffset() is None:
        raise ValueError(f"time must be timezone-aware, got {when!r}")
    return when.astimezone(UTC)


def _declination_and_eot(julian_century: float) -> tuple[float, float]:
    """Solar declination (degrees) and equation of time (minutes), NOAA formulas."""
    jc = julian_century
    mean_long = (280.46646 + jc * (36000.76983 + jc * 0.0003032)) % 360
    mean_anom = 357.52911 + jc * (35999.05029 - 0.0001537 * jc)
    ecc = 0.016708634 - jc * (0.000042037 + 0.0000001267 * jc)
    m = math.radians(mean_anom)
    centre = (
        math.sin(m) * (1.914602 - jc * (0.004817 + 0.000014 * jc))
        + math.sin(2 * m) * (0.019993 - 0.000101 * jc)
        + math.sin(3 * m) * 0.000289
    )
    omega = math.radians(125.04 - 1934.136 * jc)
    apparent_long = math.radians(mean_long + centre - 0.00569 - 0.00478 * math.sin(omega))
    mean_obliquity = 23 + (26 + (21.448 - jc * (46.815 + jc * (0.00059 - jc * 0.001813))) / 60) / 60
    obliquity = math.radians(mean_obliquity + 0.00256 * math.cos(omega))
    declination = math.degrees(math.asin(math.sin(obliquity) * math.sin(apparent_long)))
    y = math.tan(obliquity / 2) ** 2
    l0 = math.radians(mean_long)
    eot_rad = (
        y * math.sin(2 * l0)
        - 2 * ecc * math.sin(m)
        + 4 * ecc * y * math.sin(m) * math.cos(2 * l0)
        - 0.5 * y * y * math.sin(4 * l0)
        - 1.25 * ecc * ecc * math.sin(2 * m)
    )
    return declination, 4 * math.degrees(eot_rad)


def _julian_century(when_utc: datetime) -> float:
    julian_day = when_utc.timestamp() / 86400 + _JULIAN_UNIX_EPOCH
    return (julian_day - _J2000) / 36525


def _refraction_deg(elevation_deg: float) -> float:
    """Atmospheric refraction near the horizon (NOAA's approximation)."""
    e = elevation_deg
    if e > 85:
        return 0.0
    tan_e = math.tan(math.radians(e))
    if e > 5:
        arcsec = 58.1 / tan_e - 0.07 / tan_e**3 + 0.000086 / tan_e**5
    elif e > -0.575:
        arcsec = 1735 + e * (-518.2 + e * (103.4 + e * (-12.79 + e * 0.711)))
    else:
        arcsec = -20.772 / tan_e
    return arcsec / 3600


def sun_position(when: datetime, latitude: float, longitude: float) -> SunPosition:
    """The sun's apparent position at ``when`` from ``latitude``/``longitude`` (degrees, east +)."""
    utc = _utc(when)
    declination, eot = _declination_and_eot(_julian_century(utc))
    minutes = utc.hour * 60 + utc.minute + utc.second / 60 + utc.microsecond / 6e7
    true_solar_min = (minutes + eot + 4 * longitude) % 1440
    hour_angle = true_solar_min / 4 - 180
    lat = math.radians(latitude)
    dec = math.radians(declination)
    cos_zenith = math.sin(lat) * math.sin(dec) + math.cos(lat) * math.cos(dec) * math.cos(
        math.radians(hour_angle)
    )
    zenith = math.acos(max(-1.0, min(1.0, cos_zenith)))
    elevation = 90 - math.degrees(zenith)
    denominator = math.cos(lat) * math.sin(zenith)
    if abs(denominator) < 1e-12:
        azimuth = 180.0 if latitude > 0 else 0.0
    else:
        cos_az = (math.sin(lat) * math.cos(zenith) - math.sin(dec)) / denominator
        az = math.degrees(math.acos(max(-1.0, min(1.0, cos_az))))
        azimuth = (az + 180) % 360 if hour_angle > 0 else (540 - az) % 360
    return SunPosition(
        elevation_deg=elevation + _refraction_deg(elevation),
        azimuth_deg=azimuth,
        declination_deg=declination,
        equation_of_time_min=eot,
    )


def solar_elevation_deg(when: datetime, latitude: float, longitude: float) -> float:
    """Apparent solar elevation in degrees (negative below the horizon)."""
    return sun_position(when, latitude, longitude).elevation_deg


def solar_noon_utc(day: date, longitude: float) -> datetime:
    """The instant the sun crosses the meridian on ``day`` (the date at that longitude)."""
    guess = datetime.combine(day, time(12), UTC) - timedelta(minutes=4 * longitude)
    _, eot = _declination_and_eot(_julian_century(guess))
    noon_min = 720 - 4 * longitude - eot
    return datetime.combine(day, time(0), UTC) + timedelta(minutes=noon_min)


def clear_sky_ghi_w_m2(elevation_deg: float) -> float:
    """Clear-sky global horizontal irradiance (Haurwitz) for a solar elevation; 0 at night."""
    if elevation_deg <= 0:
        return 0.0
    cos_zenith = math.sin(math.radians(elevation_deg))
    return 1098.0 * cos_zenith * math.exp(-0.057 / cos_zenith)


def clear_sky_pv_kw(
    rated_kw: float,
    when_utc: datetime,
    lat: float,
    lon: float,
    *,
    performance_ratio: float = DEFAULT_PERFORMANCE_RATIO,
) -> float:
    """AC power a PV array of ``rated_kw`` (kWp) could deliver under a clear sky.

    Args:
        rated_kw: the array's peak rating in kW.
        when_utc: the instant (any timezone-aware datetime; converted to UTC).
        lat: site latitude in degrees (north +).
        lon: site longitude in degrees (east +).
        performance_ratio: system losses, 0-1.

    Returns:
        Power in kW, 0 at night, never above ``rated_kw``.
    """
    if rated_kw < 0:
        raise ValueError(f"rated_kw must be >= 0, got {rated_kw}")
    if not 0 < performance_ratio <= 1:
        raise ValueError(f"performance_ratio must be in (0, 1], got {performance_ratio}")
    ghi = clear_sky_ghi_w_m2(solar_elevation_deg(when_utc, lat, lon))
    return min(rated_kw, rated_kw * ghi / STC_IRRADIANCE_W_M2 * performance_ratio)


def clear_sky_pv_kwh(
    rated_kw: float,
    start: datetime,
    end: datetime,
    lat: float,
    lon: float,
    *,
    step_s: float = 300.0,
    performance_ratio: float = DEFAULT_PERFORMANCE_RATIO,
) -> float:
    """Clear-sky PV energy between two instants (midpoint rule, ``step_s`` steps)."""
    if not step_s > 0:
        raise ValueError(f"step_s must be positive, got {step_s}")
    t = _utc(start)
    stop = _utc(end)
    energy = 0.0
    while t < stop:
        step = min(step_s, (stop - t).total_seconds())
        middle = t + timedelta(seconds=step / 2)
        energy += (
            clear_sky_pv_kw(rated_kw, middle, lat, lon, performance_ratio=performance_ratio)
            * step
            / 3600
        )
        t += timedelta(seconds=step)
    return energy
