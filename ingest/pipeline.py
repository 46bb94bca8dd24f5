"""The write pipeline: commit a batch, retry an outage, isolate what the database refuses.

* The database cannot be reached (the writer's ``ping`` fails too): the same batch is
  retried with backoff for as long as it takes; ``greenpulse_ingest_db_failing`` is 1
  meanwhile. This is the only case retried without bound.
* The database is up but refuses the batch: after ``non_transient_attempts`` the batch
  is written message by message; a message refused that many times becomes one
  ``write_failed`` dead letter (its payload as bytes, its text escaped and cut), which
  always fits. A batch of dead letters only is no exception.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError

from ingest.decode import DecodedReading, Reason, Rejection, dead_letter
from ingest.metrics import IngestMetrics
from ingest.options import IngestOptions
from ingest.sparkplug import OfflineEvent
from ingest.sparkplug_store import Snapshot, SparkplugEffects, collect
from ingest.writer import WriteResult

log = logging.getLogger(__name__)


class ReadingWriter(Protocol):
    """What the loop needs of ``ingest.writer.BatchWriter``.

    ``prepare`` does the work that needs no database (it may run while the previous
    batch commits); ``commit`` writes a prepared batch in one transaction, and may be
    called again with the same plan after a failure. A batch with Sparkplug effects
    (offline meters, the host's births) passes them as ``commit(..., sparkplug=...)``;
    only such batches need a writer that takes it.
    """

    def prepare(self, readings: Sequence[DecodedReading], *, now: datetime) -> Any: ...

    def commit(
        self,
        plan: Any,
        rejections: Sequence[Rejection],
        *,
        after: Callable[[float | None], bool] | None = None,
    ) -> WriteResult: ...


@dataclass(slots=True)
class Pending:
    """A received message, decoded, waiting for its batch to commit."""

    mid: int
    qos: int
    generation: int
    topic: str
    payload: bytes
    readings: list[DecodedReading]
    rejections: list[Rejection]
    weight: int
    key: str = ""  # journal fingerprint
    strikes: int = 0  # deaths of the process with this message in flight
    offline: list[OfflineEvent] | None = None  # Sparkplug NDEATH/DDEATH: meters offline
    births: Snapshot | None = None  # Sparkplug host sessions after this message, if changed


class Committer:
    """Commits batches for the ingest loop, with the retry and isolation rules above."""

    def __init__(
        self,
        writer: ReadingWriter,
        options: IngestOptions,
        metrics: IngestMetrics,
        clock: Callable[[], datetime],
        waiting: Callable[[], int],
    ) -> None:
        self._writer = writer
        self._options = options
        self.metrics = metrics
        self._clock = clock
        self._waiting = waiting  # readings waiting, for the outage log line
        self.db_failing = False

    async def commit(
        self,
        batch: list[Pending],
        plan: Any = None,
        after: Callable[[float | None], bool] | None = None,
    ) -> WriteResult:
        """Commit one batch; isolate what the database refuses (see the module docstring)."""
        readings = [r for p in batch for r in p.readings]
        rejections = [r for p in batch for r in p.rejections]
        effects = collect((p.readings, p.offline, p.births) for p in batch)
        if not readings and not rejections and effects is None:
            return WriteResult()  # only ignored messages (own hints, STATE): nothing to write
        failures = 0
        while True:
            try:
                return await self.write(readings, rejections, plan, after, effects)
            except Exception as exc:
                if await self._outage(exc):
                    await self._retry_pause(exc, failures + 1, outage=True)
                    continue
                failures += 1
                if failures < self._options.non_transient_attempts:
                    await self._retry_pause(exc, failures, outage=False)
                    continue
                if len(batch) == 1:
                    return await self._set_aside(batch[0], exc)
                log.error(
                    "ingest: a batch of %d messages fails with %r; writing them one by one",
                    len(batch),
                    exc,
                )
                return await self.one_by_one(batch, after)

    async def one_by_one(
        self, batch: list[Pending], after: Callable[[float | None], bool] | None = None
    ) -> WriteResult:
        """Each message in a transaction of its own (those refused become dead letters).

        Like the batch they come from, the messages wait for the commit before it (``after``),
        so a meter's readings are still committed in receipt order.
        """
        total = WriteResult()
        for pending in batch:
            merge(total, await self.commit([pending], after=after))
        return total

    async def _set_aside(self, pending: Pending, exc: BaseException) -> WriteResult:
        """A message the database refuses becomes a ``write_failed`` dead letter."""
        log.error(
            "ingest: dead-lettering a message from %s the database refuses: %s",
            pending.topic,
            short(exc),
        )
        meter_id = pending.readings[0].meter_id if pending.readings else None
        if meter_id is None and pending.rejections:
            meter_id = pending.rejections[0].meter_id
        letter = dead_letter(
            pending.topic.encode("ascii", "backslashreplace").decode("ascii"),
            Reason.WRITE_FAILED,
            f"the database refused this message ({len(pending.readings)} readings, "
            f"{len(pending.rejections)} dead letters): {exc!r}",
            pending.payload,
            None if meter_id is None else meter_id.encode("ascii", "backslashreplace").decode(),
            self._clock(),
        )
        # the message is now this one dead letter (the loop counts rejections as committed)
        self.metrics.set_aside.inc(len(pending.readings))
        pending.readings, pending.rejections = [], [letter]
        while True:  # an ASCII row of bounded size: only an outage keeps it out
            try:
                return await self.write([], [letter])
            except Exception as again:
                await self._retry_pause(again, 1, outage=await self._outage(again))

    async def write(
        self,
        readings: list[DecodedReading],
        rejections: list[Rejection],
        plan: Any = None,
        after: Callable[[float | None], bool] | None = None,
        effects: SparkplugEffects | None = None,
    ) -> WriteResult:
        """Prepare (unless ``plan`` is given) and commit, in a worker thread."""
        writer = self._writer
        now = self._clock()

        def write() -> WriteResult:
            prepared = writer.prepare(readings, now=now) if plan is None else plan
            if effects is None:  # writers without Sparkplug take no such argument
                return writer.commit(prepared, rejections, after=after)
            sparkplug_writer: Any = writer  # BatchWriter: also takes ``sparkplug``
            result: WriteResult = sparkplug_writer.commit(
                prepared, rejections, after=after, sparkplug=effects
            )
            return result

        result = await asyncio.to_thread(write)
        if self.db_failing:
            self.db_failing = False
            self.metrics.db_down.set(0)
            log.warning("ingest: database writes succeed again")
        return result

    async def _outage(self, exc: BaseException) -> bool:
        """True when the database cannot be reached (not when it refuses this batch)."""
        if not is_transient(exc):
            return False
        ping = getattr(self._writer, "ping", None)
        if ping is None:
            return True
        try:
            await asyncio.to_thread(ping)
        except Exception:
            return True
        return False

    async def _retry_pause(self, exc: BaseException, failures: int, *, outage: bool) -> None:
        m = self.metrics
        m.db_retries.inc()
        options = self._options
        delay = min(options.retry_initial_s * 2 ** (failures - 1), options.retry_max_s)
        reminder = int(options.outage_reminder_s / options.retry_max_s) or 1
        if not outage:
            log.warning("ingest: the database refused a batch (%s); trying again", short(exc))
        elif not self.db_failing:
            self.db_failing = True
            m.db_down.set(1)
            log.error(
                "ingest: database write failed (%s); retrying the same batch until it commits, "
                "nothing is acknowledged meanwhile",
                short(exc),
            )
        elif failures % reminder == 0:
            log.error(
                "ingest: database still failing after %d attempts (%s); %d readings waiting",
                failures,
                short(exc),
                self._waiting(),
            )
        await asyncio.sleep(delay)


def merge(total: WriteResult, result: WriteResult) -> None:
    total.written += result.written
    total.duplicates += result.duplicates
    total.late += result.late
    total.events += result.events
    total.events_withdrawn += result.events_withdrawn
    total.rejected += result.rejected
    total.replanned = total.replanned or result.replanned
    total.sites |= result.sites
    newest = result.newest_time
    if newest is not None and (total.newest_time is None or newest > total.newest_time):
        total.newest_time = newest


def is_transient(exc: BaseException) -> bool:
    """A lost or refused database connection, as the driver reports it."""
    if isinstance(exc, OperationalError | DisconnectionError | OSError | TimeoutError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]
