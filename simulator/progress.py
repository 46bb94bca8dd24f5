"""How far a backfill has got: a rich progress bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

PLAIN_STEP = 0.1
"""Without a terminal, one line per tenth of the backfill."""


class BackfillBar:
    """Implements ``simulator.publish.BackfillProgress``; ends with a one-line summary."""

    def __init__(self, stream: TextIO | None = None, *, label: str = "backfill") -> None:
        self._stream = stream or sys.stdout
        self._label = label
        self._began = time.monotonic()
        self._terminal = self._stream.isatty()
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._next_plain = PLAIN_STEP

    def _start_bar(self) -> Progress:
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[readings]:>9,} readings"),
            TextColumn("simulated to {task.fields[simulated_to]}"),
            TimeRemainingColumn(),
            console=Console(file=self._stream),
            transient=True,
        )
        progress.start()
        self._task = progress.add_task(self._label, total=1.0, readings=0, simulated_to="…")
        return progress

    def advance(self, fraction: float, readings: int, simulated_to: datetime) -> None:
        """Record progress: ``fraction`` of the backfill done, ``readings`` published."""
        when = f"{simulated_to:%Y-%m-%d %H:%M}"
        if self._terminal:
            if self._progress is None:
                self._progress = self._start_bar()
            assert self._task is not None
            self._progress.update(
                self._task, completed=fraction, readings=readings, simulated_to=when
            )
        elif fraction >= self._next_plain or fraction >= 1.0:
            while self._next_plain <= fraction:
                self._next_plain += PLAIN_STEP
            print(
                f"{self._label}: {fraction:4.0%}, {readings:,} readings, simulated to {when}",
                file=self._stream,
                flush=True,
            )

    def done(self, readings: int, messages: int) -> None:
        """Close the bar and print the summary."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        elapsed = time.monotonic() - self._began
        rate = readings / elapsed if elapsed > 0 else 0.0
        print(
            f"{self._label} done: {readings:,} readings in {messages:,} messages "
            f"in {elapsed:.1f} s ({rate:,.0f} readings/s)",
            file=self._stream,
            flush=True,
        )
