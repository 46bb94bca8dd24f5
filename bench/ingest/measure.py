"""Time and CPU of one consumer process draining its backlog into ``readings``.

The consumer (the GreenPulse ingester, or a peer) runs as its own process.
From outside it is watched for:

* connect: the moment its process tree holds an established TCP connection to
  the broker's port (sampled every 20 ms);
* first row and last row: ``readings`` polled every 0.2 s (an ``EXISTS`` until
  the first row, then ``count(*)``), so the last-row time is late by at most
  one poll;
* CPU: user + system seconds of the process and all its descendants (psutil),
  sampled at connect and at the last row; ``cpu_s`` is the difference.

Then every stored row is compared with the published points (``check_rows``).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg

from bench.ingest.publish import Point

POLL_CONNECT_S = 0.02
POLL_ROWS_S = 0.2


@dataclass(frozen=True)
class Drain:
    """One consumer's drain of ``readings`` rows (monotonic seconds)."""

    name: str
    readings: int
    started: float
    connected: float
    first_row: float
    last_row: float
    cpu_s: float  # process tree, connect -> last row
    cpu_total_s: float  # process tree, start -> last row (start-up included)
    rss_mb: float  # process tree's resident memory at the last row
    mismatched: int  # rows missing, extra or different (0 = every row checked and right)

    @property
    def per_s_from_connect(self) -> float:
        return self.readings / max(self.last_row - self.connected, 1e-9)

    @property
    def per_s_from_first_row(self) -> float:
        return self.readings / max(self.last_row - self.first_row, 1e-9)

    @property
    def cpu_per_50k(self) -> float:
        return self.cpu_s * 50_000 / self.readings


def _tree(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_cpu(proc: psutil.Process) -> float:
    """User + system seconds of ``proc`` and its descendants (and their waited children)."""
    total = 0.0
    for p in _tree(proc):
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


def tree_rss_mb(proc: psutil.Process) -> float:
    total = 0
    for p in _tree(proc):
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 1e6


def connected_to(proc: psutil.Process, port: int) -> bool:
    """Whether a process of the tree has an established TCP connection to ``port``."""
    for p in _tree(proc):
        try:
            conns = p.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for c in conns:
            if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED:
                return True
    return False


def drain(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    dsn: str,
    broker_port: int,
    expect: int,
    log: Path,
    cwd: Path | None = None,
    timeout_s: float = 300.0,
) -> tuple[float, float, float, float, float, float, float]:
    """Run ``argv`` until ``readings`` holds ``expect`` rows; the raw timings (see ``Drain``).

    Returns (started, connected, first_row, last_row, cpu_s, cpu_total_s, rss_mb).

    Raises:
        RuntimeError: the process exited, or ``expect`` rows were not stored in time.
    """
    with log.open("w") as out:
        started = time.monotonic()
        popen = subprocess.Popen(
            list(argv), env=dict(env), cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            proc = psutil.Process(popen.pid)
            deadline = started + timeout_s
            connected = first = 0.0
            cpu_at_connect = 0.0
            while not connected:
                if time.monotonic() > deadline or popen.poll() is not None:
                    raise RuntimeError(f"{name} never connected to the broker; see {log}")
                if connected_to(proc, broker_port):
                    connected = time.monotonic()
                    cpu_at_connect = tree_cpu(proc)
                else:
                    time.sleep(POLL_CONNECT_S)
            stored = 0
            with psycopg.connect(dsn, autocommit=True) as watch:
                while stored < expect:
                    if time.monotonic() > deadline or popen.poll() is not None:
                        raise RuntimeError(f"{name} stored {stored} of {expect}; see {log}")
                    time.sleep(POLL_ROWS_S)
                    if not first:
                        row = watch.execute("SELECT EXISTS (SELECT 1 FROM readings)").fetchone()
                        if row and row[0]:
                            first = time.monotonic()
                        continue
                    row = watch.execute("SELECT count(*) FROM readings").fetchone()
                    stored = int(row[0]) if row else 0
            last = time.monotonic()
            cpu_at_last = tree_cpu(proc)
            rss = tree_rss_mb(proc)
            return started, connected, first, last, cpu_at_last - cpu_at_connect, cpu_at_last, rss
        finally:
            popen.terminate()
            try:
                popen.wait(30)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait(10)


def check_rows(dsn: str, points: Sequence[Point], *, with_seq: bool = True) -> int:
    """Rows of ``readings`` missing, extra or different from ``points`` (0: all right).

    ``with_seq=False`` for formats that carry no per-reading ``seq`` (Sparkplug B).
    """
    key = "meter_id, time, raw_value, raw_unit" + (", seq" if with_seq else "")
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "CREATE TEMP TABLE expected (meter_id text, time timestamptz, raw_value float8, "
            "raw_unit text, seq int) ON COMMIT DROP"
        )
        with conn.cursor().copy(f"COPY expected ({key}) FROM STDIN") as copy:
            for p in points:
                fields = (p.meter_id, p.time, p.value, p.unit, p.seq)
                copy.write_row(fields if with_seq else fields[:4])
        row = conn.execute(
            f"SELECT (SELECT count(*) FROM (SELECT {key} FROM expected "
            f"EXCEPT SELECT {key} FROM readings) AS missing) + "
            f"(SELECT count(*) FROM (SELECT {key} FROM readings "
            f"EXCEPT SELECT {key} FROM expected) AS extra)"
        ).fetchone()
        return int(row[0]) if row else -1


def measure(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    dsn: str,
    broker_port: int,
    points: Sequence[Point],
    log: Path,
    cwd: Path | None = None,
    with_seq: bool = True,
) -> Drain:
    """Drain into an emptied ``readings`` and check every row."""
    started, connected, first, last, cpu, cpu_total, rss = drain(
        name,
        argv,
        env=env,
        dsn=dsn,
        broker_port=broker_port,
        expect=len(points),
        log=log,
        cwd=cwd,
    )
    return Drain(
        name,
        len(points),
        started,
        connected,
        first,
        last,
        cpu,
        cpu_total,
        rss,
        check_rows(dsn, points, with_seq=with_seq),
    )


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} ({os.cpu_count()} cores)"
