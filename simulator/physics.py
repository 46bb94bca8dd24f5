"""The physical plant: what each meter truly measures, tick by tick.

``SitePhysics.rates(tick)`` gives every meter's true rate (kW, m³/h or unit/h)
for one physics tick. Rates are pure functions of the tick, the seed and the
injected events, never of what was computed before, so any tick can be
evaluated in any order. What the meters *report* lives in ``simulator.meters``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from app.domain.plant import Meter, Resource, Site
from app.domain.solar import DEFAULT_PERFORMANCE_RATIO, clear_sky_ghi_w_m2, solar_elevation_deg
from simulator.calendar import CANTEEN_MEALS, CONTINUOUS, OFFICE_HOURS, ShiftPattern
from simulator.noise import Noise
from simulator.options import SimOptions
from simulator.profiles import (
    COOLING_MAKEUP,
    DEFAULT_SCHEDULE,
    Driver,
    Kind,
    Profile,
    WeatherTerm,
    area_schedules,
    profile_for,
    size_per_hour,
)
from simulator.weather import Weather, climate_for

LINE_LOSS_FRACTION: Final = 0.03
"""Transformer and cable losses plus unmetered loads behind the grid meters."""

RINSE_SHARE_OF_MAIN: Final = 0.28
"""Process rinse water (not sub-metered) as a share of the water inlet's size."""

REUSE_SHARE: Final = {"process": 0.45, "cooling": 0.30}
"""Share of rinse water the RO loop supplies; share of tower make-up recovered as blowdown."""

BREAKDOWN_PROBABILITY: Final = 0.025
"""Chance a line is down (breakdown, changeover) in any 10-minute slot."""

PV_CLOUD_LAG_S: Final = 45.0
"""Cloud shadows reach the next inverter group this much later."""


@dataclass
class _Model:
    index: int
    meter: Meter
    profile: Profile
    size: float
    noise: Noise
    pattern: ShiftPattern  # of the meter's area
    cloud_lag_s: float = 0.0
    spikes: list[tuple[int, int, float]] = field(default_factory=list)
    trips: list[tuple[int, int]] = field(default_factory=list)

    def modifier(self, t0_ms: int, t1_ms: int) -> float:
        """Injected multiplier for a tick: partial overlaps are weighted by time."""
        span = t1_ms - t0_ms
        factor = 1.0
        for start, end, spike in self.spikes:
            overlap = min(end, t1_ms) - max(start, t0_ms)
            if overlap > 0:
                factor *= 1 + (spike - 1) * overlap / span
        for start, end in self.trips:
            overlap = min(end, t1_ms) - max(start, t0_ms)
            if overlap > 0:
                factor *= 1 - overlap / span
        return factor


@dataclass
class _Tick:
    """What every meter of a site shares at one tick."""

    tick: int
    t0_ms: int
    t1_ms: int
    mid_s: float
    local: datetime
    local_hour: float
    cooling: float
    heating: float
    elevation_deg: float
    lines: dict[str, float] = field(default_factory=dict)
    levels: dict[ShiftPattern, float] = field(default_factory=dict)
    run_starts: dict[ShiftPattern, datetime | None] = field(default_factory=dict)
    site_index: float = 0.0

    def level(self, pattern: ShiftPattern, country: str) -> float:
        """The pattern's scheduled level now (once per tick and pattern)."""
        level = self.levels.get(pattern)
        if level is None:
            level = self.levels[pattern] = pattern.level(self.local, country)
        return level

    def run_start(self, pattern: ShiftPattern, country: str) -> datetime | None:
        if pattern not in self.run_starts:
            self.run_starts[pattern] = pattern.running_since(self.local, country)
        return self.run_starts[pattern]


class SitePhysics:
    """True rates of one site's meters (canonical units per hour)."""

    def __init__(self, site: Site, seed: int, options: SimOptions) -> None:
        self.site = site
        self.options = options
        self.tick_ms = round(options.tick_s * 1000)
        self._zone = site.zone
        self._seed = seed
        self._weather = Weather(
            climate_for(site.province, site.latitude),
            site.latitude,
            Noise(seed, f"weather/{site.id}"),
        )
        self._schedules = area_schedules(site)
        self._area_noise = {area: Noise(seed, f"area/{site.id}/{area}") for area in self._schedules}
        self.models: list[_Model] = []
        pv_count = 0
        for index, meter in enumerate(site.meters):
            model = _Model(
                index=index,
                meter=meter,
                profile=profile_for(meter),
                size=size_per_hour(meter),
                noise=Noise(seed, f"physics/{meter.id}"),
                pattern=self._schedules[meter.area],
            )
            if model.profile.kind is Kind.PV:
                model.cloud_lag_s = pv_count * PV_CLOUD_LAG_S
                pv_count += 1
            self.models.append(model)
        self.main_pattern = self._main_pattern()
        self._line_areas = sorted(
            {
                m.meter.area
                for m in self.models
                if m.pattern not in (CONTINUOUS, OFFICE_HOURS)
                and m.meter.resource in (Resource.PRODUCTION, Resource.ELECTRICITY)
            }
        )
        workday = self.main_pattern.workday
        self._full_share = sum((s.end_h - s.start_h) * s.level for s in workday) / 24 or 1.0
        self._cache: tuple[int, list[float]] | None = None

    def _main_pattern(self) -> ShiftPattern:
        """The shift pattern most production counters follow (boiler warm-up, formation WIP)."""
        patterns = Counter(
            m.pattern
            for m in self.models
            if m.meter.resource is Resource.PRODUCTION and m.pattern is not CONTINUOUS
        )
        if patterns:
            return patterns.most_common(1)[0][0]
        return DEFAULT_SCHEDULE

    # -- injections ------------------------------------------------------------

    def add_spike(self, meter_index: int, start_ms: int, end_ms: int, factor: float) -> None:
        self.models[meter_index].spikes.append((start_ms, end_ms, factor))
        self._cache = None

    def add_trip(self, meter_index: int, start_ms: int, end_ms: int) -> None:
        self.models[meter_index].trips.append((start_ms, end_ms))
        self._cache = None

    # -- rates -----------------------------------------------------------------

    def rates(self, tick: int) -> list[float]:
        """Every meter's true rate during ``tick`` (ticks count ``tick_s`` from the epoch)."""
        if self._cache is not None and self._cache[0] == tick:
            return self._cache[1]
        ctx = self._context(tick)
        rates = [0.0] * len(self.models)
        derived: list[_Model] = []
        for model in self.models:
            kind = model.profile.kind
            if kind is Kind.LOAD:
                rate = model.size * self._load_fraction(model, ctx)
            elif kind is Kind.PRODUCTION:
                rate = model.size * model.profile.load * self._line(model.meter.area, ctx)
                rate *= 1 + 0.03 * model.noise.signed(tick)
            elif kind is Kind.PV:
                rate = self._pv(model, ctx)
            else:
                derived.append(model)
                continue
            rates[model.index] = max(0.0, rate * model.modifier(ctx.t0_ms, ctx.t1_ms))
        self._water_balance(derived, rates, ctx)
        self._grid_balance(derived, rates, ctx)
        self._cache = (tick, rates)
        return rates

    def _context(self, tick: int) -> _Tick:
        t0_ms = tick * self.tick_ms
        mid_s = (t0_ms + self.tick_ms / 2) / 1000
        utc = datetime.fromtimestamp(mid_s, UTC)
        local = utc.astimezone(self._zone)
        local_hour = local.hour + local.minute / 60 + local.second / 3600
        temperature = self._weather.temperature_c(mid_s, local_hour)
        ctx = _Tick(
            tick=tick,
            t0_ms=t0_ms,
            t1_ms=t0_ms + self.tick_ms,
            mid_s=mid_s,
            local=local,
            local_hour=local_hour,
            cooling=_clamp((temperature - 14) / 14),
            heating=_clamp((16 - temperature) / 14),
            elevation_deg=solar_elevation_deg(utc, self.site.latitude, self.site.longitude),
        )
        if self._line_areas:
            lines = [self._line(area, ctx) for area in self._line_areas]
            ctx.site_index = sum(lines) / len(lines)
        else:
            ctx.site_index = 0.7
        return ctx

    def _line(self, area: str, ctx: _Tick) -> float:
        """The area's line rate as a fraction of nominal (schedule x availability)."""
        cached = ctx.lines.get(area)
        if cached is not None:
            return cached
        pattern = self._schedules[area]
        if pattern is CONTINUOUS:
            level = self._work_in_progress(ctx)
        else:
            level = ctx.level(pattern, self.site.country)
            if level > 0:
                noise = self._area_noise[area]
                slot = int(ctx.mid_s // 600)
                if noise.uniform(slot) < BREAKDOWN_PROBABILITY:
                    level *= 0.1
                else:
                    level *= 0.94 + 0.06 * noise.uniform(slot, 1)
        ctx.lines[area] = level
        return level

    def _work_in_progress(self, ctx: _Tick) -> float:
        """Round-the-clock areas (formation, aging) work on the last two days' output."""
        day = ctx.local.date()
        before = self.main_pattern.daily_share(day - timedelta(days=2), self.site.country)
        last = self.main_pattern.daily_share(day - timedelta(days=1), self.site.country)
        share = before + (last - before) * ctx.local_hour / 24
        return 0.45 + 0.55 * share / self._full_share

    def _driver(self, model: _Model, ctx: _Tick) -> float:
        driver = model.profile.driver
        if driver is Driver.LINE:
            return self._line(model.meter.area, ctx)
        if driver is Driver.SITE:
            return ctx.site_index
        if driver is Driver.OCCUPANCY:
            return ctx.level(OFFICE_HOURS, self.site.country)
        if driver is Driver.CANTEEN:
            return ctx.level(CANTEEN_MEALS, self.site.country)
        if driver is Driver.NIGHT:
            return _clamp(1 - ctx.elevation_deg / 8)
        return 1.0

    def _driver_pattern(self, model: _Model) -> ShiftPattern:
        return model.pattern if model.profile.driver is Driver.LINE else self.main_pattern

    def _load_fraction(self, model: _Model, ctx: _Tick) -> float:
        p = model.profile
        drive = self._driver(model, ctx)
        pattern = self._driver_pattern(model)
        scheduled = pattern is CONTINUOUS or ctx.level(pattern, self.site.country) > 0
        if p.idle_off and not scheduled:
            return 0.0
        fraction = p.base + p.load * drive
        if p.weather is WeatherTerm.COOLING:
            fraction += p.weather_gain * ctx.cooling
        elif p.weather is WeatherTerm.HEATING:
            fraction += p.weather_gain * ctx.heating
        if p.cycle_min > 0:
            phase = (ctx.mid_s / (p.cycle_min * 60) + model.noise.uniform(7)) % 1
            if phase >= 0.6:
                fraction *= 1 - p.cycle_depth
        if p.warmup_min > 0 and scheduled and pattern is not CONTINUOUS:
            since = ctx.run_start(pattern, self.site.country)
            if since is not None:
                progress = (ctx.local - since).total_seconds() / 60 / p.warmup_min
                if progress < 1:
                    fraction = max(fraction, p.warmup_level * (1 - 0.3 * progress))
        drift = 2 * model.noise.smooth(ctx.mid_s, 900.0) - 1
        jitter = model.noise.signed(ctx.tick)
        fraction *= 1 + p.noise * (0.6 * drift + 0.4 * jitter)
        return _clamp(fraction)

    def _pv(self, model: _Model, ctx: _Tick) -> float:
        clear = clear_sky_ghi_w_m2(ctx.elevation_deg) / 1000 * DEFAULT_PERFORMANCE_RATIO
        if clear <= 0:
            return 0.0
        if self.options.clouds:
            index = self._weather.clear_sky_index(ctx.mid_s - model.cloud_lag_s)
        else:
            index = 0.97
        # inverter groups differ a little (soiling, orientation, string faults)
        spread = 0.97 + 0.03 * model.noise.uniform(11)
        return model.size * min(1.0, clear * index * spread)

    def _water_balance(self, derived: list[_Model], rates: list[float], ctx: _Tick) -> None:
        mains = [m for m in derived if m.profile.kind is Kind.WATER_MAIN]
        reuses = [m for m in derived if m.profile.kind is Kind.REUSE]
        if not mains and not reuses:
            return
        main_size = sum(m.size for m in mains) or sum(m.size for m in reuses) * 2
        rinse_phase = (ctx.mid_s / 1800) % 1  # 30-minute rinse cycles
        rinse = RINSE_SHARE_OF_MAIN * main_size * ctx.site_index
        rinse *= 1.0 if rinse_phase < 0.6 else 0.5
        cooling = sum(rates[m.index] for m in self.models if m.profile is COOLING_MAKEUP)
        supplied = {"process": rinse, "cooling": cooling}
        recovered = {"process": 0.0, "cooling": 0.0}
        for follows in ("process", "cooling"):
            group = [m for m in reuses if m.profile.follows == follows]
            total_size = sum(m.size for m in group)
            for m in group:
                want = REUSE_SHARE[follows] * supplied[follows] * m.size / total_size
                rate = min(0.9 * m.size, want) * (1 + 0.02 * m.noise.signed(ctx.tick))
                rate *= m.modifier(ctx.t0_ms, ctx.t1_ms)
                rates[m.index] = max(0.0, rate)
                recovered[follows] += rates[m.index]
        if not mains:
            return
        sub_metered = sum(
            rates[m.index]
            for m in self.models
            if m.meter.resource is Resource.WATER and m.profile.kind is not Kind.WATER_MAIN
        )
        # the reused water no longer has to come from the inlet
        inlet = sub_metered + rinse - recovered["process"] - recovered["cooling"]
        inlet = max(inlet, 0.0) + 0.03 * main_size
        for m in mains:
            rate = inlet * m.size / main_size * (1 + 0.02 * m.noise.signed(ctx.tick))
            rate = min(rate, 0.95 * m.size) * m.modifier(ctx.t0_ms, ctx.t1_ms)
            rates[m.index] = max(0.0, rate)

    def _grid_balance(self, derived: list[_Model], rates: list[float], ctx: _Tick) -> None:
        imports = [m for m in derived if m.profile.kind is Kind.GRID_IMPORT]
        exports = [m for m in derived if m.profile.kind is Kind.GRID_EXPORT]
        if not imports and not exports:
            return
        feeders = [m for m in self.models if m.meter.resource is Resource.ELECTRICITY]
        if feeders:
            consumption = sum(rates[m.index] for m in feeders) * (1 + LINE_LOSS_FRACTION)
        else:
            consumption = sum(m.size for m in imports) * 0.5 * (0.3 + 0.7 * ctx.site_index)
        pv = sum(rates[m.index] for m in self.models if m.meter.resource is Resource.PV)
        net = consumption - pv
        self._share(imports, max(net, 0.0), rates, ctx)
        self._share(exports, max(-net, 0.0), rates, ctx)

    def _share(self, group: list[_Model], total: float, rates: list[float], ctx: _Tick) -> None:
        """Split a flow between parallel meters by size, with a slowly drifting imbalance."""
        if not group:
            return
        weights = [m.size * (1 + 0.1 * (m.noise.smooth(ctx.mid_s, 3600.0) - 0.5)) for m in group]
        weight_sum = sum(weights)
        for m, weight in zip(group, weights, strict=True):
            rate = total * weight / weight_sum * m.modifier(ctx.t0_ms, ctx.t1_ms)
            rates[m.index] = max(0.0, min(rate, 1.4 * m.size))


def _clamp(x: float, low: float = 0.0, high: float = 1.0) -> float:
    return low if x < low else high if x > high else x
