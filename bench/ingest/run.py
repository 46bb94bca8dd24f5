"""Ingest benchmark: sustained readings/s into TimescaleDB, beside its baselines.

    .venv/bin/python -m bench.ingest.run [--single 50000] [--batch 500000] [--sparkplug 500000]

For each payload shape (one reading per message; gateway batches of 100) the
same messages are queued on a throwaway Mosquitto (recommended config) for
five persistent sessions, published by a separate process *before* any
consumer runs; then each consumer drains its backlog alone, in its own process:

1. the GreenPulse ingester (``python -m ingest``) into a throwaway TimescaleDB
   database: readings/s, and a zero-loss check;
1b. the peer: an integrator-style Node-RED 4 flow (``bench/peers/nodered``, see
   ``bench.ingest.nodered``) into the same database; both are timed from
   connect and from the first row, with the CPU of their process trees, and
   every stored row is checked (``bench.ingest.measure``), and the run prints
   GreenPulse / Node-RED for readings/s and CPU;
2. the same ingest loop with a writer that does nothing (the loop's own cost);
3. a bare aiomqtt client with a no-op handler (``async for message in
   client.messages``, paho acknowledging each at once);
4. psycopg binary COPY of the same rows into the same hypertable (the
   database ceiling, in-process);
5. a naive ingester committing per message (time-limited to 20 s).

A third shape, ``spB``, is the same readings as Sparkplug B DDATA of ``--per-message``
metrics by alias (``bench.ingest.sparkplug_publish``: the simulator's edge node, which
the demo plant file maps), drained by the same ingester into the same database in the
same run, beside COPY; every row is checked the same way.

Draining a backlog keeps the publisher off the CPU while consumers are timed.
The broker, the consumer and PostgreSQL still share the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from app.db import migrate
from app.db.engine import make_engine, make_sessionmaker
from app.plant.file import load_plant
from app.plant.sync import sync_plant
from bench.ingest import nodered
from bench.ingest.baselines import copy_rows, create_session
from bench.ingest.measure import Drain, load_average, measure
from bench.ingest.publish import Point, plant_points
from ingest.broker import Mosquitto, start_mosquitto

ADMIN_DSN = os.environ.get("GREENPULSE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
MAX_READINGS = 1_000_000
SPARKPLUG_TOPICS = "spBv1.0/#"
TRUNCATE = "TRUNCATE readings, meter_state, rollups, meter_events, rejected_messages"


@dataclass
class Shape:
    name: str
    readings: int
    per_message: int
    sparkplug: bool = False  # Sparkplug B DDATA (the demo plant's mapping) instead of JSON

    @property
    def messages(self) -> int:
        return -(-self.readings // self.per_message)


@dataclass
class Figures:
    shape: Shape
    ingester: float = 0.0
    loop: float = 0.0
    bare: float = 0.0
    copy: float = 0.0
    naive: float = 0.0
    stored: int = 0
    greenpulse: Drain | None = None
    peer: Drain | None = None


def _dsn(name: str) -> str:
    return ADMIN_DSN.rsplit("/", 1)[0] + "/" + name


def _count(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM readings").fetchone()
        return int(row[0]) if row else 0


def _truncate(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute(TRUNCATE)


def _topics(prefix: str, shape: Shape | None = None) -> list[str]:
    if shape is not None and shape.sparkplug:
        return [SPARKPLUG_TOPICS]
    return [f"{prefix}/+/+/reading", f"{prefix}/+/gateway/+/batch"]


def _publish(broker: Mosquitto, prefix: str, shape: Shape, end: datetime) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.ingest.publish",
            f"--port={broker.port}",
            f"--prefix={prefix}",
            f"--count={shape.readings}",
            f"--per-message={shape.per_message}",
            f"--end={end.isoformat()}",
            *(["--sparkplug"] if shape.sparkplug else []),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    print(f"  {out.stdout.strip()}")


def _run_ingester(
    broker: Mosquitto,
    dsn: str,
    prefix: str,
    client_id: str,
    points: list[Point],
    log: Path,
    *,
    with_seq: bool = True,
) -> Drain:
    """``python -m ingest`` draining its session into an emptied ``readings``."""
    env = dict(
        os.environ,
        GREENPULSE_DATABASE_URL=dsn.replace("postgresql://", "postgresql+psycopg://"),
        GREENPULSE_MQTT_URL=broker.url,
        GREENPULSE_MQTT_TOPIC_PREFIX=prefix,
        GREENPULSE_MQTT_CLIENT_ID=client_id,
        GREENPULSE_INGEST_SUMMARY_INTERVAL_S="5",
    )
    _truncate(dsn)
    argv = [sys.executable, "-m", "ingest"]
    return measure(
        "greenpulse",
        argv,
        env=env,
        dsn=dsn,
        broker_port=broker.port,
        points=points,
        log=log,
        with_seq=with_seq,
    )


def _run_peer(
    broker: Mosquitto, dsn: str, prefix: str, client_id: str, points: list[Point], workdir: Path
) -> Drain:
    """The Node-RED flow draining its own session (same messages) into an emptied ``readings``."""
    env = nodered.environment(
        port=broker.port, client_id=client_id, prefix=prefix, dsn=dsn, user_dir=workdir / client_id
    )
    _truncate(dsn)
    return measure(
        "node-red",
        nodered.command(),
        env=env,
        dsn=dsn,
        broker_port=broker.port,
        points=points,
        log=workdir / f"{client_id}.log",
        cwd=nodered.PEER_DIR,
    )


def _run_baseline(
    kind: str, broker: Mosquitto, client_id: str, expect: int, dsn: str, prefix: str
) -> float:
    """Messages/s of a baseline process, first message to last."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.ingest.baselines",
            kind,
            f"--port={broker.port}",
            f"--client-id={client_id}",
            f"--expect={expect}",
            "--timeout=20",
            f"--dsn={dsn}",
            f"--prefix={prefix}",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    first, last, count = out.stdout.split()
    elapsed = float(last) - float(first)
    return (int(count) - 1) / elapsed if elapsed > 0 else 0.0


def bench_shape(broker: Mosquitto, dsn: str, shape: Shape, workdir: Path) -> Figures:
    prefix = f"bench-{shape.name}-{uuid.uuid4().hex[:6]}"
    kinds = ("ingest",) if shape.sparkplug else ("ingest", "nodered", "loop", "bare", "naive")
    ids = {kind: f"{prefix}-{kind}" for kind in kinds}
    for client_id in ids.values():
        asyncio.run(create_session(broker.port, client_id, _topics(prefix, shape)))
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    print(f"{shape.name}: {shape.readings} readings in {shape.messages} messages; {load_average()}")
    _publish(broker, prefix, shape, end)
    figures = Figures(shape)
    points = plant_points(load_plant(), shape.readings, end=end)

    gp = _run_ingester(
        broker,
        dsn,
        prefix,
        ids["ingest"],
        points,
        workdir / f"ingest-{shape.name}.log",
        with_seq=not shape.sparkplug,  # Sparkplug metrics carry no per-reading seq
    )
    figures.greenpulse, figures.ingester = gp, gp.per_s_from_first_row
    figures.stored = shape.readings - gp.mismatched
    print(f"  ingester  {_drain_line(gp)}")
    if shape.sparkplug:  # the JSON shapes' baselines say what the machine can do
        _truncate(dsn)
        figures.copy = shape.readings / copy_rows(dsn, points)
        print(f"  COPY      {figures.copy:10.0f} readings/s")
        return figures
    peer = _run_peer(broker, dsn, prefix, ids["nodered"], points, workdir)
    figures.peer = peer
    print(f"  node-red  {_drain_line(peer)}")
    print(f"  after the two drains: {load_average()}")

    msgs = _run_baseline("loop", broker, ids["loop"], shape.messages, dsn, prefix)
    figures.loop = msgs * shape.per_message
    print(f"  loop only {figures.loop:10.0f} readings/s  (ingest loop, no-op writer)")

    msgs = _run_baseline("bare", broker, ids["bare"], shape.messages, dsn, prefix)
    figures.bare = msgs * shape.per_message
    print(f"  bare MQTT {figures.bare:10.0f} readings/s")

    _truncate(dsn)
    figures.copy = shape.readings / copy_rows(dsn, points)
    print(f"  COPY      {figures.copy:10.0f} readings/s")

    _truncate(dsn)
    msgs = _run_baseline("naive", broker, ids["naive"], shape.messages, dsn, prefix)
    figures.naive = msgs * shape.per_message
    print(f"  naive     {figures.naive:10.0f} readings/s")
    return figures


def report(results: list[Figures]) -> None:
    print()
    print(
        f"{'shape':<8}{'readings':>9}{'ingester/s':>12}{'loop only/s':>13}{'bare MQTT/s':>13}"
        f"{'COPY/s':>10}"
        f"{'naive/s':>9}{'vs bare':>9}{'vs COPY':>9}{'vs naive':>10}  zero loss"
    )
    for f in results:
        if f.shape.sparkplug:
            print(
                f"{f.shape.name:<8}{f.shape.readings:>9}{f.ingester:>12.0f}{'-':>13}{'-':>13}"
                f"{f.copy:>10.0f}{'-':>9}{'-':>9}{f.ingester / f.copy:>9.2f}{'-':>10}   "
                f"{'yes' if f.stored == f.shape.readings else f'NO ({f.stored})'}"
            )
            continue
        print(
            f"{f.shape.name:<8}{f.shape.readings:>9}{f.ingester:>12.0f}{f.loop:>13.0f}"
            f"{f.bare:>13.0f}"
            f"{f.copy:>10.0f}{f.naive:>9.0f}{f.ingester / f.bare:>9.2f}"
            f"{f.ingester / f.copy:>9.2f}{f.ingester / f.naive:>9.1f}x  "
            f"{'yes' if f.stored == f.shape.readings else f'NO ({f.stored})'}"
        )
    print("targets: single vs bare >= 0.8; batch vs COPY >= 0.5")
    print()
    print("GreenPulse / Node-RED flow (same messages, same broker, same database):")
    print(
        f"{'shape':<8}{'rate from connect':>19}{'rate from 1st row':>19}"
        f"{'CPU (connect..last)':>21}{'GP CPU/50k':>12}{'NR CPU/50k':>12}"
    )
    for f in results:
        gp, peer = f.greenpulse, f.peer
        if gp is None or peer is None or f.shape.sparkplug:
            continue
        print(
            f"{f.shape.name:<8}{gp.per_s_from_connect / peer.per_s_from_connect:>18.2f}x"
            f"{gp.per_s_from_first_row / peer.per_s_from_first_row:>18.2f}x"
            f"{gp.cpu_s / peer.cpu_s:>20.2f}x{gp.cpu_per_50k:>11.2f}s{peer.cpu_per_50k:>11.2f}s"
        )


def _drain_line(d: Drain) -> str:
    return (
        f"{d.per_s_from_connect:8.0f} readings/s from connect, "
        f"{d.per_s_from_first_row:8.0f} from first row; "
        f"first row {d.first_row - d.connected:5.2f} s after connect; "
        f"CPU {d.cpu_s:6.2f} s (user+sys, connect..last row; "
        f"{d.cpu_total_s:.2f} s from start); {d.rss_mb:.0f} MB; "
        f"{'every row right' if d.mismatched == 0 else f'{d.mismatched} rows WRONG'}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--single", type=int, default=50_000, help="readings, one per message")
    parser.add_argument("--batch", type=int, default=500_000, help="readings in gateway batches")
    parser.add_argument("--per-message", type=int, default=100)
    parser.add_argument(
        "--sparkplug", type=int, default=500_000, help="readings in Sparkplug B DDATA"
    )
    args = parser.parse_args(argv)
    shapes = [
        Shape("single", min(args.single, MAX_READINGS), 1),
        Shape("batch", min(args.batch, MAX_READINGS), args.per_message),
        Shape("spB", min(args.sparkplug, MAX_READINGS), args.per_message, sparkplug=True),
    ]
    name = f"gp_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = _dsn(name)
    workdir = Path(tempfile.mkdtemp(prefix="greenpulse-bench-"))
    print(f"start: {load_average()}")
    nodered.ensure_installed()
    broker = start_mosquitto(data_dir=workdir / "mosquitto")
    try:
        engine = make_engine(dsn.replace("postgresql://", "postgresql+psycopg://"))
        storage = migrate.upgrade(engine, timescaledb=True)
        sync_plant(make_sessionmaker(engine), load_plant())
        engine.dispose()
        print(
            f"database {name}: {storage.mode.value}; broker on port {broker.port}; logs {workdir}"
        )
        report([bench_shape(broker, dsn, shape, workdir) for shape in shapes if shape.readings])
        return 0
    finally:
        broker.stop()
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
