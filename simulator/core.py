"""The clock-free simulator core: a plant, a seed and a start instant in, readings out.

    sim = PlantSimulator(load_plant(), seed=7, start=datetime(2026, 11, 23, tzinfo=UTC))
    sim.inject_spike("el-comp-01", 3.0, start=..., duration=timedelta(minutes=10))
    readings = sim.advance(sim.now + timedelta(hours=1))

Nothing here sleeps, reads the clock or does I/O. The same seed, options,
injections and ``advance`` instants give the same readings; how the time is
chunked does not matter either.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.domain.plant import Meter, Plant, Resource, Site
from simulator.events import Injection, InjectionKind
from simulator.meters import MeterChannel, SimReading, gateway_for
from simulator.noise import Noise
from simulator.options import SimOptions
from simulator.physics import SitePhysics

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Silence:
    """A window in which a meter's readings do not reach the broker on time (UTC).

    ``cause``: "offline" (injected), "dropout" (meter or link down: the readings are
    lost) or "held" (its gateway stores them and forwards them at ``end``).
    """

    meter_id: str
    start: datetime
    end: datetime
    cause: str


def to_ms(when: datetime) -> int:
    """Milliseconds since the Unix epoch of an aware datetime."""
    if when.utcoffset() is None:
        raise ValueError(f"time must be timezone-aware, got {when!r}")
    return (when - _EPOCH) // timedelta(milliseconds=1)


def _seconds(duration: timedelta | float) -> float:
    return duration.total_seconds() if isinstance(duration, timedelta) else float(duration)


class PlantSimulator:
    """Every meter of a plant, from ``start`` on.

    Args:
        plant: the validated plant model.
        seed: fixes every random choice (noise, clouds, faults, jitter).
        start: aware instant the simulation starts at; true totals count from here.
        options: meter misbehaviour; clean by default.
        registers: where cumulative registers stood when the plant was left, per meter
            id, in canonical units with the multiplier applied (as the ingester keeps
            them in ``meter_state.last_value``). Those meters continue from there, so a
            resumed run reads on monotonically; the others start afresh.
    """

    def __init__(
        self,
        plant: Plant,
        seed: int,
        start: datetime,
        options: SimOptions | None = None,
        registers: Mapping[str, float] | None = None,
    ) -> None:
        self.plant = plant
        resume = dict(registers or {})
        self.seed = seed
        self.options = options or SimOptions()
        self._now_ms = to_ms(start)
        self.start = start.astimezone(UTC)
        self._sites: list[tuple[SitePhysics, list[MeterChannel]]] = []
        self._where: dict[str, tuple[int, int]] = {}
        self._queue: list[tuple[int, int, int, int, SimReading]] = []
        order = 0
        for site_index, site in enumerate(plant.sites):
            physics = SitePhysics(site, seed, self.options)
            channels = []
            for meter_index, meter in enumerate(site.meters):
                channels.append(
                    MeterChannel(
                        meter=meter,
                        site_id=site.id,
                        zone=site.zone,
                        order=order,
                        start_ms=self._now_ms,
                        options=self.options,
                        noise=Noise(seed, f"meter/{meter.id}"),
                        gateway_noise=Noise(seed, f"gateway/{site.id}/{gateway_for(meter)}"),
                        resume_at=resume.get(meter.id),
                    )
                )
                self._where[meter.id] = (site_index, meter_index)
                order += 1
            self._sites.append((physics, channels))

    @property
    def now(self) -> datetime:
        """How far the simulation has run (UTC)."""
        return _EPOCH + timedelta(milliseconds=self._now_ms)

    def meters(self) -> Iterator[tuple[Site, Meter]]:
        return self.plant.meters()

    def advance(self, until: datetime) -> list[SimReading]:
        """Run to ``until`` and return the readings sent in ``(now, until]``, in sending order.

        A reading held by a gateway (store-and-forward) or sent twice comes out
        of the call whose window contains its ``sent_at``.
        """
        end_ms = to_ms(until)
        if end_ms < self._now_ms:
            raise ValueError(f"cannot go back in time: now {self.now}, asked for {until}")
        queue = self._queue

        def emit(sent_ms: int, order: int, copy: int, reading: SimReading) -> None:
            heapq.heappush(queue, (sent_ms, order, reading.seq, copy, reading))

        t_ms = self._now_ms
        for physics, channels in self._sites:
            tick_ms = physics.tick_ms
            t = t_ms
            while t < end_ms:
                tick = t // tick_ms
                segment_end = min((tick + 1) * tick_ms, end_ms)
                rates = physics.rates(tick)
                for channel, rate in zip(channels, rates, strict=True):
                    channel.run(segment_end, (tick + 1) * tick_ms, rate, emit)
                t = segment_end
        self._now_ms = end_ms
        ready: list[SimReading] = []
        while queue and queue[0][0] <= end_ms:
            ready.append(heapq.heappop(queue)[-1])
        return ready

    def pending(self) -> int:
        """Readings taken but not yet sent (held by gateways, duplicates to come)."""
        return len(self._queue)

    def silences(self, start: datetime, end: datetime) -> list[Silence]:
        """Every window in ``[start, end)`` in which a meter's readings do not reach the
        broker on time: injected outages, dropouts and gateways holding readings back.
        What a test compares the offline alerts with."""
        start_ms, end_ms = to_ms(start), to_ms(end)
        found = []
        for _, channels in self._sites:
            for channel in channels:
                for s, e, cause in channel.silences(start_ms, end_ms):
                    found.append(
                        Silence(
                            channel.meter.id,
                            _EPOCH + timedelta(milliseconds=s),
                            _EPOCH + timedelta(milliseconds=e),
                            cause,
                        )
                    )
        return sorted(found, key=lambda x: (x.start, x.meter_id))

    # -- injected events -------------------------------------------------------

    def inject_spike(
        self, target_id: str, factor: float, start: datetime, duration: timedelta | float
    ) -> list[str]:
        """Multiply the true consumption of a meter, or of every meter in an area, for a while.

        Derived meters follow physically: a spike on a feeder shows on the grid
        import, one on a water sub-meter on the water inlet. Returns the meter ids hit.
        """
        if not factor > 0:
            raise ValueError(f"spike factor must be positive, got {factor}")
        start_ms, end_ms = self._window(start, duration)
        hit = self._targets(target_id)
        for meter_id in hit:
            site_index, meter_index = self._where[meter_id]
            self._sites[site_index][0].add_spike(meter_index, start_ms, end_ms, factor)
        return hit

    def take_offline(self, meter_id: str, start: datetime, duration: timedelta | float) -> None:
        """The meter sends nothing in the window (its register keeps counting)."""
        start_ms, end_ms = self._window(start, duration)
        site_index, meter_index = self._meter(meter_id)
        self._sites[site_index][1][meter_index].offline.append((start_ms, end_ms))

    def trip_inverter(self, meter_id: str, start: datetime, duration: timedelta | float) -> None:
        """A PV inverter trips: it produces nothing in the window, and keeps reporting."""
        start_ms, end_ms = self._window(start, duration)
        site_index, meter_index = self._meter(meter_id)
        physics = self._sites[site_index][0]
        if physics.models[meter_index].meter.resource is not Resource.PV:
            raise ValueError(f"meter {meter_id!r} is not a PV inverter")
        physics.add_trip(meter_index, start_ms, end_ms)

    def apply(self, injection: Injection, origin: datetime) -> None:
        """Apply a CLI-style injection whose offsets count from ``origin``."""
        start, duration = injection.window(origin)
        if injection.kind is InjectionKind.SPIKE:
            self.inject_spike(injection.target, injection.factor, start, duration)
        elif injection.kind is InjectionKind.OFFLINE:
            self.take_offline(injection.target, start, duration)
        else:
            self.trip_inverter(injection.target, start, duration)

    def _window(self, start: datetime, duration: timedelta | float) -> tuple[int, int]:
        seconds = _seconds(duration)
        if not seconds > 0:
            raise ValueError(f"duration must be positive, got {seconds} s")
        start_ms = to_ms(start)
        return start_ms, start_ms + round(seconds * 1000)

    def _meter(self, meter_id: str) -> tuple[int, int]:
        try:
            return self._where[meter_id]
        except KeyError:
            raise ValueError(f"no meter {meter_id!r} in plant {self.plant.name!r}") from None

    def _targets(self, target_id: str) -> list[str]:
        if target_id in self._where:
            return [target_id]
        for site in self.plant.sites:
            inside = _area_and_descendants(site, target_id)
            if inside:
                return [m.id for m in site.meters if m.area in inside]
        raise ValueError(f"no meter or area {target_id!r} in plant {self.plant.name!r}")


def _area_and_descendants(site: Site, area_id: str) -> set[str]:
    parents = {area.id: parent for area, parent in site.walk_areas()}
    if area_id not in parents:
        return set()
    found = set()
    for area in parents:
        node: str | None = area
        while node is not None:
            if node == area_id:
                found.add(area)
                break
            node = parents[node]
    return found
