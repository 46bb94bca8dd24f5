"""A deterministic meter feed for the browser tests: the demo plant's meters, near "now".

Rates follow a simple shape: a site load around 12 MW, rooftop PV on a sun curve whose
noon is placed one hour before the feed's origin (so PV produces in every test run,
whatever the wall clock says), grid import/export balancing the two, production slightly
above the baseline's energy per unit (so the efficiency lever is honestly negative).
Readings go through ``ingest.writer.BatchWriter``, exactly as the ingester writes them.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from app.alerts.models import AlertRow
from app.domain.plant import Meter, Plant, Resource
from app.domain.registers import RegisterKind
from ingest.decode import DecodedReading
from ingest.writer import BatchWriter

SITE = "guian"
LOAD_KW = 12_000.0
PV_PEAK_KW = 10_500.0
# meters that went quiet before the feed's origin: their flow is shown stale
SILENT_METERS = frozenset({"water-office"})
SILENT_FOR = timedelta(minutes=20)


class PlantFeed:
    """Registers and rates for every meter of one site; ``readings(t)`` steps them to ``t``."""

    def __init__(self, plant: Plant, origin: datetime) -> None:
        self.site = plant.site(SITE)
        self.origin = origin
        self.meters = self.site.meters
        self._registers = {m.id: 1000.0 for m in self.meters}
        self._last: dict[str, datetime] = {}
        self._feeder_rated = sum(
            m.rated_kw or 0.0 for m in self.meters if m.resource is Resource.ELECTRICITY
        )

    # -- rates (canonical units per hour) -------------------------------------------------

    def _load_kw(self, t: datetime) -> float:
        hours = (t - self.origin).total_seconds() / 3600
        return LOAD_KW + 900 * math.sin(hours / 24 * 2 * math.pi) + 150 * math.sin(hours * 7)

    def _pv_kw(self, t: datetime) -> float:
        hours_from_noon = (t - self.origin).total_seconds() / 3600 + 1
        sun = math.cos(hours_from_noon / 12 * math.pi)
        return PV_PEAK_KW * math.pow(max(0.0, sun), 1.5)

    def rate(self, meter: Meter, t: datetime) -> float:
        """The meter's true rate at ``t`` in kW, m³/h or units/h."""
        load, pv = self._load_kw(t), self._pv_kw(t)
        self_used = min(load, pv)
        match meter.resource:
            case Resource.ELECTRICITY_IMPORT:
                return (load - self_used) / 2
            case Resource.ELECTRICITY_EXPORT:
                return pv - self_used
            case Resource.PV:
                return pv / 6
            case Resource.ELECTRICITY:
                return load * 0.97 * (meter.rated_kw or 0.0) / self._feeder_rated
            case Resource.PRODUCTION:
                if meter.id == "prod-cells":
                    # 1.64 kWh per unit against a 1.6 kWh/unit baseline: slightly worse
                    return load / 1.64
                return (meter.max_rate_per_hour or 100.0) * 0.4
            case Resource.GAS:
                return (meter.max_rate_per_hour or 50.0) * 0.15
            case _:
                return (meter.max_rate_per_hour or 50.0) * 0.45

    # -- readings ---------------------------------------------------------------------------

    def readings(self, t: datetime, *, skip: Iterable[str] = ()) -> list[DecodedReading]:
        """One reading per meter at ``t`` (silent meters and ``skip`` excepted)."""
        skipped = set(skip)
        if t > self.origin - SILENT_FOR:
            skipped |= SILENT_METERS
        out = []
        for meter in self.meters:
            if meter.id in skipped:
                continue
            raw = self._raw(meter, t)
            if raw is not None:
                out.append(DecodedReading.at(SITE, meter.id, t, raw, meter.unit, None))
        return out

    def _raw(self, meter: Meter, t: datetime) -> float | None:
        rate = self.rate(meter, t)
        # raw units: a kWh register behind a CT ratio counts kWh / multiplier; Wh is 1/1000
        scale = 1000.0 if meter.unit == "Wh" else 1.0
        if meter.register_kind is RegisterKind.INSTANTANEOUS:
            return rate / meter.multiplier * scale
        last = self._last.get(meter.id)
        self._last[meter.id] = t
        hours = 0.0 if last is None else (t - last).total_seconds() / 3600
        quantity = rate * hours / meter.multiplier * scale
        if meter.register_kind is RegisterKind.INTERVAL:
            return None if last is None else quantity
        self._registers[meter.id] += quantity
        return round(self._registers[meter.id], 6)


def seed_history(
    writer: BatchWriter, feed: PlantFeed, *, hours: int = 24, step: timedelta | None = None
) -> None:
    """Readings every ``step`` from ``hours`` before the origin up to it."""
    step = step or timedelta(minutes=4)
    t = feed.origin - timedelta(hours=hours)
    batch: list[DecodedReading] = []
    while t <= feed.origin:
        batch.extend(feed.readings(t))
        t += step
    writer.write(batch, [], now=feed.origin)


def open_alerts(factory: sessionmaker[Session], now: datetime) -> None:
    """Two open alerts, as the alert engine would have raised them."""
    with factory() as session, session.begin():
        session.add_all(
            [
                AlertRow(
                    condition_key="spike:meter:el-comp-01",
                    kind="spike",
                    severity="critical",
                    status="open",
                    site_id=SITE,
                    area_id="compressors",
                    meter_id="el-comp-01",
                    message="Compressor 1 draws 1.9× its usual power for 6 min (472 kW)",
                    opened_at=now - timedelta(minutes=6),
                    details={},
                ),
                AlertRow(
                    condition_key="offline:meter:water-office",
                    kind="offline",
                    severity="warning",
                    status="open",
                    site_id=SITE,
                    area_id="office",
                    meter_id="water-office",
                    message="Office water meter silent for 15 min",
                    opened_at=now - SILENT_FOR + timedelta(minutes=15),
                    details={},
                ),
            ]
        )


class LiveWriter:
    """Writes a reading per meter every ``interval_s`` at the wall-clock time, in a thread.

    ``pause()`` holds writing (so the page and the API can be compared on still data) and
    returns once no batch is in flight; ``resume()`` carries on.
    """

    def __init__(self, writer: BatchWriter, feed: PlantFeed, interval_s: float = 1.0) -> None:
        self._writer = writer
        self._feed = feed
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._paused = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-writer", daemon=True)
        self.batches = 0
        self.errors: list[BaseException] = []

    def start(self) -> None:
        self._thread.start()

    def pause(self) -> None:
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        with self._lock:
            self._paused = False

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                if not self._paused:
                    self._write_now()
            self._stop.wait(self._interval_s)

    def _write_now(self) -> None:
        now = datetime.now(UTC)
        try:
            self._writer.write(self._feed.readings(now), [], now=now)
            self.batches += 1
        except Exception as exc:  # surfaced by the tests, never swallowed silently
            self.errors.append(exc)
