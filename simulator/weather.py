"""Outdoor temperature and passing clouds for a site, from its climate and a seed."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from simulator.noise import Noise


@dataclass(frozen=True)
class Climate:
    """A site's climate in a few numbers.

    Attributes:
        mean_c: annual mean temperature.
        seasonal_amp_c: half the difference between the warmest and coldest month.
        daily_amp_c: half the typical day-night difference.
        cloud_mean: mean fraction of daytime under cloud.
        cloud_seasonal: extra cloud in winter (negative: in summer).
    """

    mean_c: float
    seasonal_amp_c: float
    daily_amp_c: float
    cloud_mean: float
    cloud_seasonal: float


CLIMATES: Final[Mapping[str, Climate]] = MappingProxyType(
    {
        # Guizhou: mild plateau climate, among the cloudiest provinces in China
        # (1000-1200 sunshine hours a year, overcast winters).
        "CN-GZ": Climate(14.8, 9.5, 3.5, 0.65, 0.15),
        "CN-JS": Climate(16.0, 12.0, 4.0, 0.50, 0.0),
        "CN-GD": Climate(22.5, 7.5, 3.5, 0.55, -0.05),
        "CN-QH": Climate(5.0, 11.0, 7.0, 0.30, -0.05),
    }
)


def climate_for(province: str | None, latitude: float) -> Climate:
    """The province's climate, or a rough one from the latitude."""
    if province and province in CLIMATES:
        return CLIMATES[province]
    lat = abs(latitude)
    return Climate(
        mean_c=max(-5.0, 28 - 0.45 * max(0.0, lat - 10)),
        seasonal_amp_c=min(20.0, 2 + 0.3 * lat),
        daily_amp_c=4.0,
        cloud_mean=0.5,
        cloud_seasonal=0.05,
    )


_SECONDS_PER_DAY: Final = 86400.0
_SEASONAL_PHASE_DAY: Final = 15  # coldest around mid-January (northern hemisphere)


class Weather:
    """Deterministic weather of one site: ``t_s`` is Unix time, ``local_hour`` site-local."""

    def __init__(self, climate: Climate, latitude: float, noise: Noise) -> None:
        self.climate = climate
        self._hemisphere = 1.0 if latitude >= 0 else -1.0
        self._noise = noise

    def _winterness(self, t_s: float) -> float:
        """1 at mid-winter, -1 at mid-summer."""
        day_of_year = (t_s / _SECONDS_PER_DAY) % 365.2425
        angle = 2 * math.pi * (day_of_year - _SEASONAL_PHASE_DAY + 10) / 365.2425
        return self._hemisphere * math.cos(angle)

    def temperature_c(self, t_s: float, local_hour: float) -> float:
        c = self.climate
        # a day-to-day anomaly that drifts smoothly over a few days
        anomaly = 5.0 * (self._noise.smooth(t_s, 3 * _SECONDS_PER_DAY, channel=1) - 0.5)
        daily = c.daily_amp_c * math.cos(2 * math.pi * (local_hour - 15) / 24)
        return c.mean_c - c.seasonal_amp_c * self._winterness(t_s) + daily + anomaly

    def cloud_cover(self, t_s: float) -> float:
        """Fraction of the day under cloud, drawn per day around the seasonal mean."""
        day = math.floor(t_s / _SECONDS_PER_DAY)
        mean = self.climate.cloud_mean + self.climate.cloud_seasonal * self._winterness(t_s)
        spread = 0.9 * self._noise.signed(2, day)
        return min(0.97, max(0.03, mean + 0.5 * spread))

    def clear_sky_index(self, t_s: float) -> float:
        """Measured over clear-sky irradiance, 0.18-1: passing clouds shade the array.

        A smooth noise field drifts past at cloud speed; where it is below the
        day's cloud cover the array is shaded, with soft cloud edges.
        """
        day = math.floor(t_s / _SECONDS_PER_DAY)
        cover = self.cloud_cover(t_s)
        field = self._noise.smooth(t_s, 420.0, channel=3)
        shade = min(1.0, max(0.0, (cover - field) / 0.06 + 0.5))
        thickness = 0.18 + 0.2 * self._noise.uniform(4, day)  # transmittance under cloud
        haze = 0.93 + 0.05 * self._noise.uniform(5, day)
        return haze * (1 - shade) + thickness * shade
