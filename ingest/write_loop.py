"""The write loop: batch what the receiver accepted, commit, acknowledge in receipt order.

Pipelined: while one batch commits the next is prepared, and on PostgreSQL its commit
starts at once (``BatchWriter.commit``). Suspects (``ingest.journal``) go in batches
of their own, with nothing else in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ingest.journal import Journal
from ingest.metrics import IngestMetrics
from ingest.options import IngestOptions
from ingest.pipeline import Committer, Pending, ReadingWriter
from ingest.writer import WriteResult

log = logging.getLogger(__name__)


class WriteLoop:
    """The queue of accepted messages and the loop that writes it."""

    def __init__(
        self,
        writer: ReadingWriter,
        options: IngestOptions,
        metrics: IngestMetrics,
        journal: Journal,
        clock: Callable[[], datetime],
        acknowledge: Callable[[list[Pending]], None],
        announce: Callable[[WriteResult], None],
    ) -> None:
        self._writer = writer
        self._options = options
        self.metrics = metrics
        self._journal = journal
        self._clock = clock
        self._acknowledge = acknowledge
        self._announce = announce
        self.queue: deque[Pending] = deque()
        self.queued_weight = 0
        self.writing_weight = 0
        self.arrived = asyncio.Event()  # a batch may be ready
        self.space = asyncio.Event()  # pending readings are below the bound
        self.space.set()
        self.idle = asyncio.Event()  # nothing queued, nothing being written
        self.idle.set()
        self.draining = False
        self._committer = Committer(writer, options, metrics, clock, self.waiting)

    def waiting(self) -> int:
        """Readings received and not yet committed."""
        return self.queued_weight + self.writing_weight

    def add(self, pending: Pending) -> None:
        """Queue a message the receiver accepted."""
        self.queue.append(pending)
        weight = pending.weight
        was_empty = self.queued_weight == 0
        self.queued_weight += weight
        self.idle.clear()
        if was_empty or self.queued_weight >= self._options.batch_readings:
            self.arrived.set()
        if self.queued_weight + self.writing_weight >= self._options.max_pending_readings:
            self.space.clear()

    async def drain(self) -> None:
        """Write and acknowledge what was received, within ``drain_timeout_s``."""
        self.draining = True
        self.arrived.set()
        try:
            await asyncio.wait_for(self.idle.wait(), self._options.drain_timeout_s)
        except TimeoutError:
            log.warning(
                "ingest: stopping with %d readings not committed; the broker will redeliver them",
                self.queued_weight + self.writing_weight,
            )

    async def _next_batch(self) -> list[Pending]:
        """Wait for ``batch_readings`` or ``batch_ms`` after the oldest message, then take."""
        options = self._options
        while not self.queue:
            self.arrived.clear()
            await self.arrived.wait()
        deadline = time.monotonic() + options.batch_ms / 1000
        while self.queued_weight < options.batch_readings and not self.draining:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), remaining)
        return self._take()

    def _take(self) -> list[Pending]:
        """Up to ``batch_readings`` of the queued messages, now written (not queued).

        Suspects (messages in flight when a process died, ``ingest.journal``) go in
        batches of their own: all suspects together after one death, one by one after
        ``quarantine_after - 1``.
        """
        batch: list[Pending] = []
        taken = 0
        alone = self._options.quarantine_after - 1
        suspects = bool(self.queue) and self.is_suspect(self.queue[0])
        while self.queue and taken < self._options.batch_readings:
            head = self.queue[0]
            if batch and (self.is_suspect(head) != suspects or head.strikes >= alone):
                break
            batch.append(self.queue.popleft())
            taken += head.weight
            if suspects and head.strikes >= alone:
                break
        self.queued_weight -= taken
        self.writing_weight += taken
        return batch

    def is_suspect(self, pending: Pending) -> bool:
        return 0 < pending.strikes < self._options.quarantine_after

    async def run(self) -> None:
        """Commit batch after batch, with the next one already on its way.

        Under load a full batch is usually waiting when a commit starts. It is prepared
        meanwhile (registers, rollups, COPY data: Python work) and its commit starts at
        once: on PostgreSQL its readings are copied while the first commit finishes
        (``BatchWriter.commit``), so the database works on both. Acknowledgements stay
        in receipt order: a batch is acknowledged once it has committed, and only after
        every batch before it.
        """
        m = self.metrics
        inflight: deque[tuple[list[Pending], asyncio.Task[WriteResult], threading.Event]] = deque()
        try:
            while True:
                m.pending.set(self.queued_weight + self.writing_weight)
                m.pending_messages.set(len(self.queue))
                if not inflight:
                    batch = await self._next_batch()
                    inflight.append((batch, *await self._start(batch, None)))
                if (
                    len(inflight) < 2
                    and self.queued_weight >= self._options.batch_readings
                    and not self.is_suspect(inflight[-1][0][0])
                    and not self.is_suspect(self.queue[0])
                ):
                    batch = self._take()
                    inflight.append((batch, *await self._start(batch, inflight[-1][2])))
                batch, committing, _ = inflight.popleft()
                result = await committing
                weight = sum(p.weight for p in batch)
                self._record(result, batch, weight)
                self._acknowledge(batch)
                self._journal.finished(p.key for p in batch)
                self._announce(result)
                self.writing_weight -= weight
                if self.queued_weight + self.writing_weight < self._options.max_pending_readings:
                    self.space.set()
                if not self.queue and not inflight:
                    self.idle.set()
        except Exception:
            # a bug outside the per-message handling: note it with what is in flight
            # (the journal makes those suspects on the next start) and let the process end
            self._journal.failed(traceback.format_exc())
            raise
        finally:
            for _, task, _ in inflight:  # only when this loop is cancelled itself
                task.cancel()

    async def _start(
        self, batch: list[Pending], previous: threading.Event | None
    ) -> tuple[asyncio.Task[WriteResult], threading.Event]:
        """Prepare a batch and start committing it; the event is set when the commit ends.

        The commit takes its meter locks only once ``previous`` (the commit before it) has
        ended, so batches step their registers in order.
        """
        self._journal.started(p.key for p in batch)
        plan = await self._prepare(batch)
        started = time.monotonic()
        done = threading.Event()
        after = None if previous is None else previous.wait

        async def commit() -> WriteResult:
            try:
                result = await self._committer.commit(batch, plan, after)
            finally:
                done.set()
            self.metrics.batch_latency.observe(time.monotonic() - started)
            return result

        return asyncio.create_task(commit(), name="ingest-commit"), done

    async def _prepare(self, batch: list[Pending]) -> Any:
        """The writer's plan for a batch; ``None`` when preparing fails (``Committer.commit``
        prepares again, and finds the message at fault)."""
        readings = [r for p in batch for r in p.readings]
        try:
            return await asyncio.to_thread(self._writer.prepare, readings, now=self._clock())
        except Exception:
            log.exception("ingest: preparing a batch of %d messages failed", len(batch))
            return None

    def _record(self, result: WriteResult, batch: list[Pending], weight: int) -> None:
        m = self.metrics
        m.written.inc(result.written)
        m.duplicates.inc(result.duplicates)
        m.late.inc(result.late)
        m.events.inc(result.events)
        m.events_withdrawn.inc(result.events_withdrawn)
        m.replans.inc(int(result.replanned))
        m.recopied.inc(result.recopied)
        m.batch_size.observe(weight)
        for pending in batch:  # as committed: a message set aside is one write_failed
            for rejection in pending.rejections:
                m.rejected.labels(rejection.reason).inc()
        newest = result.newest_time
        if newest is not None:
            m.lag.set(max(0.0, (self._clock() - newest).total_seconds()))
