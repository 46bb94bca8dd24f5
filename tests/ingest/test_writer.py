"""The batch writer on SQLite, PostgreSQL and TimescaleDB: exact, idempotent, late-data aware."""

from __future__ import annotations

import itertools
import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select

from app.db.models import (
    MeterEventRow,
    MeterStateRow,
    ReadingRow,
    RejectedMessageRow,
    RollupRow,
)
from app.db.rollups import DAY, FIFTEEN, rebuild_rollups
from app.domain.registers import Quality
from app.plant.file import load_plant
from app.plant.sync import sync_plant
from ingest.decode import DecodedReading, Rejection
from ingest.writer import BatchWriter, WriteResult
from tests.conftest import Backend

HOUR = "hour"  # UTC hours, summed from the 15-minute rows
T0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
PLANT = load_plant()


@pytest.fixture
def writer(clean_backend: Backend) -> BatchWriter:
    sync_plant(clean_backend.factory, PLANT)
    return BatchWriter(clean_backend.factory, PLANT, clean_backend.storage)


def reading(meter: str, minute: float, value: float, unit: str = "kWh") -> DecodedReading:
    return DecodedReading.at(
        site_id="guian",
        meter_id=meter,
        time=T0 + timedelta(minutes=minute),
        raw_value=value,
        raw_unit=unit,
        seq=None,
    )


def stored(backend: Backend, meter: str) -> list[tuple[float, float | None, int]]:
    with backend.factory() as session:
        rows = session.execute(
            select(ReadingRow.time, ReadingRow.quantity, ReadingRow.quality)
            .where(ReadingRow.meter_id == meter)
            .order_by(ReadingRow.time)
        ).all()
    return [((_utc(t) - T0).total_seconds() / 60, q, quality) for t, q, quality in rows]


def rollup(backend: Backend, meter: str, resolution: str = HOUR) -> dict[datetime, float]:
    stored = FIFTEEN if resolution == HOUR else resolution
    with backend.factory() as session:
        rows = session.execute(
            select(RollupRow.bucket_start, RollupRow.quantity).where(
                RollupRow.meter_id == meter, RollupRow.resolution == stored
            )
        ).all()
    if resolution != HOUR:
        return {_utc(b): q for b, q in rows}
    hours: dict[datetime, float] = {}
    for b, q in rows:
        hour = _utc(b).replace(minute=0)
        hours[hour] = hours.get(hour, 0.0) + q
    return hours


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def test_cumulative_register_becomes_intervals(backend: Backend, writer: BatchWriter) -> None:
    batch = [reading("el-comp-01", m, 1000 + 5 * m) for m in range(5)]
    result = writer.write(batch, [], now=NOW)
    assert (result.written, result.duplicates, result.late) == (5, 0, 0)
    assert stored(backend, "el-comp-01") == [
        (0, None, Quality.FIRST),
        (1, 5, 0),
        (2, 5, 0),
        (3, 5, 0),
        (4, 5, 0),
    ]
    assert rollup(backend, "el-comp-01") == {T0: 20}
    with backend.factory() as session:
        state = session.get(MeterStateRow, "el-comp-01")
    assert state is not None and state.last_value == 1020
    assert state.last_rate_per_h == pytest.approx(300)  # 5 kWh per minute = 300 kW


def test_the_same_batch_twice_is_stored_once(backend: Backend, writer: BatchWriter) -> None:
    batch = [reading("el-comp-01", m, 1000 + 5 * m) for m in range(5)]
    writer.write(batch, [], now=NOW)
    again = writer.write(batch + batch[:2], [], now=NOW)
    assert (again.written, again.duplicates) == (0, 7)
    assert len(stored(backend, "el-comp-01")) == 5
    assert rollup(backend, "el-comp-01") == {T0: 20}


def test_late_reading_is_spliced_in_and_rollups_corrected(
    backend: Backend, writer: BatchWriter
) -> None:
    writer.write([reading("el-comp-01", 0, 100), reading("el-comp-01", 2, 110)], [], now=NOW)
    assert rollup(backend, "el-comp-01") == {T0: 10}
    late = writer.write([reading("el-comp-01", 1, 104)], [], now=NOW)
    assert (late.written, late.late) == (1, 1)
    assert stored(backend, "el-comp-01") == [
        (0, None, Quality.FIRST),
        (1, 4, Quality.LATE),
        (2, 6, 0),
    ]
    assert rollup(backend, "el-comp-01") == {T0: 10}
    with backend.factory() as session:
        hour_samples = session.scalar(
            select(func.sum(RollupRow.samples)).where(
                RollupRow.meter_id == "el-comp-01", RollupRow.resolution == FIFTEEN
            )
        )
    assert hour_samples == 2


def test_late_reading_in_an_earlier_hour_moves_energy_between_hours(
    backend: Backend, writer: BatchWriter
) -> None:
    # 01:50 and 02:10 stored: the 20 kWh are spread evenly over the two hours
    writer.write([reading("el-comp-01", -10, 100), reading("el-comp-01", 10, 120)], [], now=NOW)
    assert rollup(backend, "el-comp-01") == {T0 - timedelta(hours=1): 10, T0: 10}
    # the 02:00 reading arrives late: measured, 8 kWh belong to 01:00-02:00, 12 to 02:00-03:00
    writer.write([reading("el-comp-01", 0, 108)], [], now=NOW)
    assert rollup(backend, "el-comp-01") == {T0 - timedelta(hours=1): 8, T0: 12}


def test_rollover_reset_and_multiplier(backend: Backend, writer: BatchWriter) -> None:
    writer.write(
        [
            reading("el-comp-01", 0, 9_999_990),  # wraps at 10 GWh
            reading("el-comp-01", 5, 5),
            reading("el-grid-in-1", 0, 100.0),  # CT ratio 2000
            reading("el-grid-in-1", 1, 100.1),
        ],
        [],
        now=NOW,
    )
    comp = stored(backend, "el-comp-01")
    assert comp[1][1] == pytest.approx(15)
    assert comp[1][2] & Quality.ROLLOVER
    assert stored(backend, "el-grid-in-1")[1][1] == pytest.approx(200)
    with backend.factory() as session:
        kinds = session.scalars(select(MeterEventRow.kind)).all()
    assert kinds == ["rollover"]


def test_instantaneous_power_is_integrated_and_wh_accepted(
    backend: Backend, writer: BatchWriter
) -> None:
    writer.write(
        [
            reading("el-dryroom", 0, 100, "kW"),
            reading("el-dryroom", 1, 200, "kW"),
            reading("el-lighting", 1, 2500, "Wh"),
            reading("el-lighting", 2, 1500, "Wh"),
        ],
        [],
        now=NOW,
    )
    assert stored(backend, "el-dryroom")[1][1] == pytest.approx(2.5)
    assert [q for _, q, _ in stored(backend, "el-lighting")] == [
        pytest.approx(2.5),
        pytest.approx(1.5),
    ]


def test_day_rollup_follows_the_site_local_day(backend: Backend, writer: BatchWriter) -> None:
    # 16:00 UTC is midnight in Shanghai: the interval ending then belongs to the day before
    midnight = datetime(2026, 11, 22, 16, 0, tzinfo=UTC)
    minutes_to_midnight = (midnight - T0).total_seconds() / 60
    writer.write(
        [
            reading("el-comp-01", minutes_to_midnight - 1, 100),
            reading("el-comp-01", minutes_to_midnight, 103),
            reading("el-comp-01", minutes_to_midnight + 1, 107),
        ],
        [],
        now=NOW,
    )
    days = rollup(backend, "el-comp-01", DAY)
    assert days == {
        datetime(2026, 11, 21, 16, 0, tzinfo=UTC): 3,
        datetime(2026, 11, 22, 16, 0, tzinfo=UTC): 4,
    }


def test_rejections_are_kept_for_inspection(backend: Backend, writer: BatchWriter) -> None:
    rejected = Rejection(
        topic="greenpulse/guian/nope/reading",
        reason="unknown_meter",
        detail="meter 'nope' is not in the plant",
        payload=b'{"value": 1}',
        meter_id="nope",
        received_at=NOW,
    )
    result = writer.write([], [rejected], now=NOW)
    assert result.rejected == 1
    with backend.factory() as session:
        row = session.scalars(select(RejectedMessageRow)).one()
    assert (row.reason, row.meter_id, row.payload) == ("unknown_meter", "nope", b'{"value": 1}')


def _series(meters: list[str], n: int, seed: int) -> list[DecodedReading]:
    rng = random.Random(seed)
    out = []
    for meter in meters:
        value = rng.uniform(1000, 5000)
        for i in range(n):
            value += rng.uniform(0, 4)
            out.append(reading(meter, i * 0.75, round(value, 3)))
    return out


def test_readings_stored_beyond_a_lost_meter_state_are_not_stored_twice(
    backend: Backend, writer: BatchWriter, caplog: pytest.LogCaptureFixture
) -> None:
    writer.write([reading("el-comp-01", m, 1000 + 5 * m) for m in range(5)], [], now=NOW)
    with backend.factory() as session, session.begin():
        session.execute(delete(MeterStateRow))  # e.g. restored from an older backup
    # minutes 3 and 4 are stored already; without a state they look new
    result = writer.write(
        [reading("el-comp-01", m, 1000 + 5 * m) for m in range(3, 8)], [], now=NOW
    )
    assert [minute for minute, _, _ in stored(backend, "el-comp-01")] == list(range(8))
    assert result.sites == {"guian"}
    with backend.factory() as session:
        state = session.get(MeterStateRow, "el-comp-01")
    assert state is not None and state.last_value == 1035
    if backend.name != "sqlite":  # PostgreSQL copies straight in, finds the clash, redoes
        assert "readings newer than meter_state found for meters el-comp-01" in caplog.text


def test_any_arrival_order_gives_the_in_order_figures(
    backend: Backend, writer: BatchWriter
) -> None:
    meters = ["el-comp-01", "el-comp-02", "el-chiller-01"]
    series = _series(meters, 120, seed=7)
    shuffled = series[:]
    random.Random(11).shuffle(shuffled)
    # in random batches, with a share of redelivered duplicates
    i = 0
    rng = random.Random(3)
    while i < len(shuffled):
        size = rng.randint(1, 60)
        chunk = shuffled[i : i + size] + rng.sample(series, 5)
        writer.write(chunk, [], now=NOW)
        i += size
    with backend.factory() as session:
        assert session.scalar(select(func.count()).select_from(ReadingRow)) == len(series)
    for meter in meters:
        values = [r.raw_value for r in series if r.meter_id == meter]
        got = stored(backend, meter)
        assert got[0][1] is None
        expected = [b - a for a, b in itertools.pairwise(values)]
        assert [q for _, q, _ in got[1:]] == pytest.approx(expected)
        incremental = rollup(backend, meter)
        assert sum(incremental.values()) == pytest.approx(values[-1] - values[0])
        _assert_rollups_match_rebuild(backend, meter)


def _assert_rollups_match_rebuild(backend: Backend, meter: str) -> None:
    before = {r: rollup(backend, meter, r) for r in (FIFTEEN, DAY)}
    with backend.factory() as session, session.begin():
        rebuild_rollups(session, meter, PLANT.site("guian").zone, 60.0)
    after = {r: rollup(backend, meter, r) for r in (FIFTEEN, DAY)}
    for resolution in (FIFTEEN, DAY):
        assert before[resolution].keys() == after[resolution].keys()
        for bucket, quantity in after[resolution].items():
            assert before[resolution][bucket] == pytest.approx(quantity)


@pytest.mark.parametrize("backend", ["postgresql", "timescaledb"], indirect=True)
def test_two_writers_on_one_meter_stay_exact(backend: Backend, writer: BatchWriter) -> None:
    """Two ingesters sharing a subscription get one meter's readings interleaved.

    (SQLite has a single writer, so this runs on PostgreSQL and TimescaleDB.)
    """
    second = BatchWriter(backend.factory, PLANT, backend.storage)
    series = _series(["el-comp-01"], 400, seed=5)
    halves = [series[0::2], series[1::2]]
    errors: list[BaseException] = []

    def run(w: BatchWriter, part: list[DecodedReading]) -> None:
        try:
            for i in range(0, len(part), 10):
                w.write(part[i : i + 10], [], now=NOW)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(w, h))
        for w, h in zip((writer, second), halves, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    values = [r.raw_value for r in series]
    got = stored(backend, "el-comp-01")
    assert len(got) == len(series)
    assert sum(q for _, q, _ in got if q is not None) == pytest.approx(values[-1] - values[0])
    _assert_rollups_match_rebuild(backend, "el-comp-01")


def test_a_long_gap_is_spread_over_the_hours_it_spans(
    backend: Backend, writer: BatchWriter
) -> None:
    """Six hours of energy after a silent meter are not piled into one hour."""
    writer.write([reading("el-comp-01", -120, 5000), reading("el-comp-01", 240, 5600)], [], now=NOW)
    hours = rollup(backend, "el-comp-01")
    assert hours == {T0 + timedelta(hours=h): pytest.approx(100) for h in range(-2, 4)}
    with backend.factory() as session:
        samples = session.scalars(
            select(RollupRow.samples).where(
                RollupRow.meter_id == "el-comp-01", RollupRow.resolution == FIFTEEN
            )
        ).all()
    assert sorted(samples) == [0] * 23 + [1]  # the reading counts once, where it ends


def test_batches_prepared_ahead_commit_as_written_in_order(
    backend: Backend, writer: BatchWriter
) -> None:
    first = writer.prepare([reading("el-comp-01", m, 1000 + 5 * m) for m in range(5)], now=NOW)
    # prepared while the first is not committed yet: stepped on from its last reading
    second = writer.prepare([reading("el-comp-01", m, 1000 + 5 * m) for m in range(5, 9)], now=NOW)
    assert writer.commit(first, []).replanned is False
    result = writer.commit(second, [])
    assert (result.written, result.replanned) == (4, False)
    assert [q for _, q, _ in stored(backend, "el-comp-01")] == [None] + [5] * 8
    assert rollup(backend, "el-comp-01") == {T0: 40}
    _assert_rollups_match_rebuild(backend, "el-comp-01")


def test_a_plan_is_stepped_again_when_another_writer_got_there_first(
    backend: Backend, writer: BatchWriter
) -> None:
    writer.write([reading("el-comp-01", 0, 1000)], [], now=NOW)
    planned = writer.prepare([reading("el-comp-01", m, 1000 + 5 * m) for m in (2, 3)], now=NOW)
    other = BatchWriter(backend.factory, PLANT, backend.storage)  # a second ingester
    other.write([reading("el-comp-01", 1, 1004)], [], now=NOW)
    result = writer.commit(planned, [])
    assert (result.written, result.replanned) == (2, True)
    assert stored(backend, "el-comp-01") == [(0, None, 1), (1, 4, 0), (2, 6, 0), (3, 5, 0)]
    assert rollup(backend, "el-comp-01") == {T0: 15}


def test_committing_a_plan_again_changes_nothing(backend: Backend, writer: BatchWriter) -> None:
    plan = writer.prepare([reading("el-comp-01", m, 1000 + 5 * m) for m in range(5)], now=NOW)
    writer.commit(plan, [])
    again = writer.commit(plan, [])  # e.g. the commit's answer was lost and it is retried
    assert (again.written, again.duplicates, again.replanned) == (0, 5, True)
    assert len(stored(backend, "el-comp-01")) == 5
    assert rollup(backend, "el-comp-01") == {T0: 20}


def test_a_commit_started_early_waits_for_the_one_before(
    backend: Backend, writer: BatchWriter
) -> None:
    first = writer.prepare([reading("el-comp-01", m, 1000 + 5 * m) for m in range(5)], now=NOW)
    second = writer.prepare([reading("el-comp-01", m, 1000 + 5 * m) for m in range(5, 9)], now=NOW)
    first_done = threading.Event()
    results: list[WriteResult] = []
    # the second commit starts first (on PostgreSQL it copies its readings at once), but
    # takes the meter locks only once the first has ended
    early = threading.Thread(
        target=lambda: results.append(writer.commit(second, [], after=first_done.wait))
    )
    early.start()
    early.join(0.3)
    assert early.is_alive()
    assert stored(backend, "el-comp-01") == []
    assert writer.commit(first, []).replanned is False
    first_done.set()
    early.join(10)
    assert [r.replanned for r in results] == [False]
    assert [q for _, q, _ in stored(backend, "el-comp-01")] == [None] + [5] * 8
    _assert_rollups_match_rebuild(backend, "el-comp-01")
