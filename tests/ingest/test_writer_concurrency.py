"""A real ``BatchWriter`` committing two batches at once, as the ingester does.

The ingester prepares the next batch while one commits and starts its commit at once:
on PostgreSQL its readings are copied before the meter locks are taken, while the
commit before it still runs. These tests drive that with real threads on PostgreSQL
and TimescaleDB and check what a user reads back: every reading's quantity stepped from
the one before it (register order), rollups equal to a rebuild from the readings, and
an early copy that had to be thrown away written again and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections import deque
from collections.abc import Iterator

import psycopg
import pytest

from app.config import Settings
from app.plant.sync import sync_plant
from ingest.decode import DecodedReading
from ingest.pipeline import Pending
from ingest.service import Ingester
from ingest.writer import EARLY_WAIT_S, BatchWriter, Plan, WriteResult
from tests.conftest import Backend
from tests.ingest.test_writer import (
    NOW,
    PLANT,
    _assert_rollups_match_rebuild,
    _series,
    reading,
    stored,
)

pytestmark = pytest.mark.parametrize("backend", ["postgresql", "timescaledb"], indirect=True)

METERS = ["el-comp-01", "el-comp-02", "el-office"]


@pytest.fixture
def writer(clean_backend: Backend) -> BatchWriter:
    sync_plant(clean_backend.factory, PLANT)
    return BatchWriter(clean_backend.factory, PLANT, clean_backend.storage)


class Committer:
    """Commits plans in their own threads, the next one waiting (``after``) for the one
    before, at most two at a time: the ingester's write loop without the broker."""

    def __init__(self, writer: BatchWriter) -> None:
        self.writer = writer
        self.results: list[tuple[int, WriteResult]] = []
        self.errors: list[BaseException] = []
        self.overlapped = 0  # commits started while the one before was still running
        self._inflight: deque[tuple[threading.Thread, threading.Event]] = deque()

    def start(self, index: int, plan: Plan) -> threading.Event:
        previous = self._inflight[-1][1] if self._inflight else None
        done = threading.Event()

        def run() -> None:
            try:
                after = None if previous is None else previous.wait
                self.results.append((index, self.writer.commit(plan, [], after=after)))
            except BaseException as exc:  # surfaced by the test
                self.errors.append(exc)
            finally:
                done.set()

        if previous is not None and not previous.is_set():
            self.overlapped += 1
        thread = threading.Thread(target=run, name=f"commit-{index}")
        thread.start()
        self._inflight.append((thread, done))
        return done

    def make_room(self) -> None:
        """At most two commits in flight: wait for the oldest when two are."""
        while len(self._inflight) >= 2:
            thread, _ = self._inflight.popleft()
            thread.join(60)
            assert not thread.is_alive(), "a commit did not end"

    def join(self) -> None:
        while self._inflight:
            thread, _ = self._inflight.popleft()
            thread.join(60)
            assert not thread.is_alive(), "a commit did not end"
        assert not self.errors, self.errors


def _batches(series: list[DecodedReading], size: int) -> Iterator[list[DecodedReading]]:
    ordered = sorted(series, key=lambda r: r.time)
    for i in range(0, len(ordered), size):
        yield ordered[i : i + size]


def _register_steps(series: list[DecodedReading], meter: str) -> list[float | None]:
    values = [r.raw_value for r in sorted(series, key=lambda r: r.time) if r.meter_id == meter]
    return [None] + [b - a for a, b in itertools.pairwise(values)]


def test_overlapping_commits_keep_register_order_and_exact_rollups(
    backend: Backend, writer: BatchWriter
) -> None:
    """Forty batches over three meters, each prepared while the one before commits and
    committed while it still runs: nothing is late, nothing is stepped again, and each
    stored quantity is the register step from the reading before it."""
    series = _series(METERS, 200, seed=19)  # 150 minutes: the rollups span three hours
    committer = Committer(writer)
    for index, batch in enumerate(_batches(series, 15)):
        plan = writer.prepare(batch, now=NOW)  # ahead: the commit before may still run
        committer.make_room()
        committer.start(index, plan)
    committer.join()

    assert committer.overlapped > 0, "no two commits ever ran at once"
    results = [r for _, r in sorted(committer.results, key=lambda item: item[0])]
    assert sum(r.written for r in results) == len(series)
    assert [r.late for r in results] == [0] * len(results)
    assert [r.replanned for r in results] == [False] * len(results)
    for meter in METERS:
        got = stored(backend, meter)
        assert [q for _, q, _ in got] == pytest.approx(_register_steps(series, meter))
        _assert_rollups_match_rebuild(backend, meter)


@contextlib.contextmanager
def _meter_locked(backend: Backend, meter: str) -> Iterator[None]:
    """Hold ``meter``'s writer lock from another connection (a commit that takes long)."""
    dsn = backend.url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 7242))", (meter,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 7242))", (meter,))


def _recopied_metric(result: WriteResult) -> float:
    """What the ingester's metrics make of a commit's result."""
    ingester = Ingester(Settings(mqtt_url="mqtt://127.0.0.1:1"), PLANT, _NoWriter())
    ingester._loop._record(result, [], 1)
    m = ingester.metrics
    return m.value(m.recopied)


class _NoWriter:
    def prepare(self, readings: object, *, now: object) -> None:
        raise AssertionError("not used")

    def commit(self, plan: object, rejections: object, *, after: object = None) -> None:
        raise AssertionError("not used")


def test_an_early_copy_held_up_by_the_commit_before_is_redone_and_counted(
    backend: Backend, writer: BatchWriter
) -> None:
    """The commit before holds its meter lock past ``EARLY_WAIT_S``: the batch copied
    ahead rolls back (so the one before is never kept waiting on it), is written again
    locks first, and the redo shows in ``greenpulse_ingest_early_copies_redone``."""
    writer.write([reading("el-comp-01", 0, 1000)], [], now=NOW)  # the chunk exists already
    first = writer.prepare([reading("el-comp-01", m, 1000 + 5 * m) for m in range(1, 5)], now=NOW)
    second = writer.prepare([reading("el-comp-01", m, 1000 + 5 * m) for m in range(5, 9)], now=NOW)
    committer = Committer(writer)
    with _meter_locked(backend, "el-comp-01"):
        committer.start(0, first)  # waits for the lock
        committer.start(1, second)  # copies at once, then waits for the first
        time.sleep(EARLY_WAIT_S + 1.0)
        assert [m for m, _, _ in stored(backend, "el-comp-01")] == [0]
    committer.join()
    results = dict(committer.results)
    assert (results[0].recopied, results[1].recopied) == (0, 1)
    assert (results[0].replanned, results[1].replanned) == (False, False)
    assert [q for _, q, _ in stored(backend, "el-comp-01")] == [None] + [5] * 8
    _assert_rollups_match_rebuild(backend, "el-comp-01")
    assert _recopied_metric(results[1]) == 1
    assert _recopied_metric(results[0]) == 0


def test_an_early_copy_stepped_on_states_another_writer_moved_is_redone(
    backend: Backend, writer: BatchWriter
) -> None:
    writer.write([reading("el-comp-01", 0, 1000)], [], now=NOW)
    planned = writer.prepare([reading("el-comp-01", m, 1000 + 5 * m) for m in (2, 3)], now=NOW)
    other = BatchWriter(backend.factory, PLANT, backend.storage)  # a second ingester
    other.write([reading("el-comp-01", 1, 1004)], [], now=NOW)
    result = writer.commit(planned, [])  # copies ahead, finds the state moved, redoes
    assert (result.written, result.replanned, result.recopied) == (2, True, 1)
    assert stored(backend, "el-comp-01") == [(0, None, 1), (1, 4, 0), (2, 6, 0), (3, 5, 0)]
    _assert_rollups_match_rebuild(backend, "el-comp-01")


def _pending(mid: int, readings: list[DecodedReading]) -> Pending:
    topic = f"greenpulse/guian/{readings[0].meter_id}/reading"
    return Pending(mid, 1, 0, topic, b"{}", readings, [], len(readings))


async def test_one_by_one_commits_wait_for_the_batch_before(
    backend: Backend, writer: BatchWriter
) -> None:
    """A batch that fell back to one-by-one commits still waits for the commit before it,
    so its meter's readings go in in receipt order (nothing turns late)."""
    writer.write([reading("el-comp-01", 0, 1000)], [], now=NOW)
    before = writer.prepare([reading("el-comp-01", m, 1000 + 5 * m) for m in range(1, 5)], now=NOW)
    ingester = Ingester(Settings(mqtt_url="mqtt://127.0.0.1:1"), PLANT, writer)
    batch = [
        _pending(1, [reading("el-comp-01", m, 1000 + 5 * m) for m in (5, 6)]),
        _pending(2, [reading("el-comp-01", m, 1000 + 5 * m) for m in (7, 8)]),
    ]
    before_done = threading.Event()
    one_by_one = asyncio.create_task(ingester._loop._committer.one_by_one(batch, before_done.wait))
    await asyncio.sleep(1.0)
    assert [m for m, _, _ in stored(backend, "el-comp-01")] == [0], "committed ahead"
    committed = await asyncio.to_thread(writer.commit, before, [])
    before_done.set()
    total = await asyncio.wait_for(one_by_one, 30)
    assert (committed.late, committed.replanned) == (0, False)
    assert (total.written, total.late) == (4, 0)
    assert [q for _, q, _ in stored(backend, "el-comp-01")] == [None] + [5] * 8
    _assert_rollups_match_rebuild(backend, "el-comp-01")
