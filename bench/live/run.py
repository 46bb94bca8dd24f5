"""Live-stream benchmark: MQTT publish → websocket frame latency, and wall screens per API.

    .venv/bin/python -m bench.live.run [--latency-s 25] [--clients 50,100,200,400,800]

Starts a throwaway Mosquitto (recommended config, ``ingest/broker.py``), a
throwaway TimescaleDB database, a real ``greenpulse ingest`` and a real
``greenpulse serve`` (subprocesses, ``GREENPULSE_*`` environment); every other
actor is its own process too (``bench.live.publish``, ``bench.live.watch``).

1. **Latency.** The demo plant's 41 meters of site ``guian`` report once a second
   each (plus ``--background`` readings/s in gateway batches); every reading is a
   probe with a unique, strictly increasing time. A websocket client of the site's
   live stream records when each frame arrives and its
   ``freshness.newest_reading_at``; a probe is reflected by the first frame whose
   newest reading is at or after the probe's time (one publisher connection, one
   ingester: readings are committed in publish order, so a frame showing a later
   reading also holds the probe). Beside it, in the same run, a plain MQTT
   subscriber gets the same probe messages: the broker's own latency.
2. **Wall screens per API process.** N websocket clients (N = 1, then the ramp,
   stopping after the first step that degrades) each count frames over a common
   window; the API process's CPU and RSS come from ``/proc/<pid>``, snapshot
   computations from ``GET /metrics`` (``greenpulse_live_computations``).
   The ramp runs with no readings flowing, so the hub's 1 s tick alone drives the
   frames (one update per second per client); then the largest good N once more
   with the plant reporting, when the ingester's announcements raise that to up
   to 4 snapshots a second.
3. **Tick only** (skip with ``--no-tick-only``): the latency again with an ingester
   that does not announce its commits on ``{prefix}/{site}/live``
   (``bench.live.tick_only_ingest``): what the announcement buys.

Bounded: under 5 minutes (each step checks the time left), every wait has a
timeout, and every process, the broker and the database are removed on exit.
All of it shares the machine's cores: clients, API, PostgreSQL, broker, ingester.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import select
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import psycopg

from app.db import migrate
from app.db.engine import make_engine, make_sessionmaker
from app.plant.file import load_plant
from app.plant.sync import sync_plant
from ingest.broker import Mosquitto, free_port, start_mosquitto

ADMIN_DSN = os.environ.get("GREENPULSE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
SITE = "guian"
BUDGET_S = 285.0  # the whole run, setup and teardown included, stays under 5 minutes
CLK_TCK = os.sysconf("SC_CLK_TCK")
DEGRADED = 0.9  # updates/s: a step degrades when any client gets fewer


# --- processes ---------------------------------------------------------------------------------


@dataclass
class Procs:
    """Every child process, each in its own process group, stopped on exit whatever happens."""

    workdir: Path
    running: list[subprocess.Popen[str]] = field(default_factory=list)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str] | None = None,
        *,
        pipes: bool = False,
    ) -> subprocess.Popen[str]:
        log = (self.workdir / f"{name}.log").open("a")
        proc = subprocess.Popen(
            list(argv),
            env=env,
            stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipes else log,
            stderr=log,
            text=True,
            start_new_session=True,
        )
        log.close()
        self.running.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[str], timeout_s: float = 15.0) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if proc in self.running:
            self.running.remove(proc)

    def stop_all(self) -> None:
        for proc in list(reversed(self.running)):
            self.stop(proc, 10.0)


def _readline(proc: subprocess.Popen[str], timeout_s: float) -> str:
    """One line of a child's stdout, or '' when none came in time."""
    stream: IO[str] | None = proc.stdout
    assert stream is not None
    ready, _, _ = select.select([stream], [], [], max(timeout_s, 0.0))
    return stream.readline().strip() if ready else ""


def _wait_for_log(path: Path, needle: str, proc: subprocess.Popen[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{path.name}: exited with {proc.returncode}; see {path}")
        if path.exists() and needle in path.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{path.name}: no {needle!r} within {timeout_s} s; see {path}")


# --- the system under test ---------------------------------------------------------------------


@dataclass
class System:
    procs: Procs
    broker: Mosquitto
    dsn: str
    prefix: str
    api_port: int
    read_token: str
    env: dict[str, str]
    api_env: dict[str, str]
    since_us: int = field(default_factory=lambda: time.time_ns() // 1000)
    api: subprocess.Popen[str] | None = None
    ingester: subprocess.Popen[str] | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.api_port}/api/v1/live/sites/{SITE}?token={self.read_token}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start_ingester(self, tick_only: bool = False) -> None:
        if self.ingester is not None:
            self.procs.stop(self.ingester)
        name = "ingest-tick-only" if tick_only else "ingest"
        argv = (
            [sys.executable, "-m", "bench.live.tick_only_ingest"]
            if tick_only
            else [_greenpulse(), "ingest"]
        )
        self.ingester = self.procs.start(name, argv, self.env)
        _wait_for_log(self.procs.workdir / f"{name}.log", "subscribed to", self.ingester, 60)

    def publisher(self, seconds: float, background: float, log: Path | None = None) -> list[str]:
        """``bench.live.publish`` arguments: the site's meters once a second each."""
        argv = [
            sys.executable,
            "-m",
            "bench.live.publish",
            f"--port={self.broker.port}",
            f"--prefix={self.prefix}",
            f"--site={SITE}",
            f"--duration={seconds}",
            f"--background={background}",
            f"--since={self.since_us}",
        ]
        return [*argv, f"--log={log}"] if log else argv

    def start_api(self) -> None:
        self.api = self.procs.start("serve", [_greenpulse(), "serve"], self.api_env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.api.poll() is not None:
                raise RuntimeError(f"greenpulse serve exited; see {self.procs.workdir}/serve.log")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.http}/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError("greenpulse serve not ready within 60 s")

    def computations(self) -> float:
        text = httpx.get(f"{self.http}/metrics", timeout=10).text
        for line in text.splitlines():
            if line.startswith("greenpulse_live_computations "):
                return float(line.split()[1])
        raise RuntimeError("no greenpulse_live_computations in /metrics")

    def api_cpu_s(self) -> float:
        assert self.api is not None
        stat = Path(f"/proc/{self.api.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime

    def api_rss_mb(self) -> float:
        assert self.api is not None
        for line in Path(f"/proc/{self.api.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def db_counts(self) -> tuple[int, int, int]:
        with psycopg.connect(self.dsn) as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM readings), (SELECT count(*) FROM rejected_messages),"
                " (SELECT count(*) FROM meter_events)"
            ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])


def _greenpulse() -> str:
    script = Path(sys.executable).with_name("greenpulse")
    if not script.exists():
        raise RuntimeError(f"{script} not found: install the project (pip install -e .)")
    return str(script)


# --- figures -----------------------------------------------------------------------------------


def pct(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(min(rank, len(ordered))) - 1]


@dataclass
class Latency:
    label: str
    probes: int = 0
    e2e_ms: list[float] = field(default_factory=list)
    broker_ms: list[float] = field(default_factory=list)
    frames: int = 0
    frame_bytes: int = 0
    frame_s: float = 0.0
    extensions: str | None = None
    stored: int = 0
    published: int = 0
    rejected: int = 0
    events: int = 0
    publisher: str = ""

    def line(self, name: str, values: Sequence[float]) -> str:
        return (
            f"  {name:<28}{pct(values, 50):>9.1f}{pct(values, 99):>9.1f}"
            f"{max(values, default=float('nan')):>9.1f}{len(values):>8}"
        )


def measure_latency(
    system: System, tag: str, label: str, seconds: float, background: float, workdir: Path
) -> Latency:
    until = time.time() + seconds + 8
    sub_out, ws_out, probe_log = (workdir / f"{tag}-{n}.json" for n in ("mqtt", "ws", "probes"))
    before = system.db_counts()
    sub = system.procs.start(
        f"{tag}-mqtt",
        [
            sys.executable,
            "-m",
            "bench.live.watch",
            "mqtt",
            f"--port={system.broker.port}",
            f"--prefix={system.prefix}",
            f"--until={until}",
            f"--out={sub_out}",
        ],
        pipes=True,
    )
    ws = system.procs.start(
        f"{tag}-ws",
        [
            sys.executable,
            "-m",
            "bench.live.watch",
            "ws",
            f"--url={system.ws_url}",
            f"--until={until}",
            f"--out={ws_out}",
        ],
        pipes=True,
    )
    for proc, what in ((sub, "MQTT subscriber"), (ws, "websocket client")):
        if _readline(proc, 30) != "ready":
            raise RuntimeError(f"{what} not ready; see {workdir}")
    pub = subprocess.run(
        system.publisher(seconds, background, probe_log),
        check=True,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    for proc in (sub, ws):
        proc.wait(max(until - time.time(), 0) + 20)
        system.procs.stop(proc)
    after = system.db_counts()

    probes = [int(x) for x in probe_log.read_text().split()]
    pairs = json.loads(sub_out.read_text())["pairs"]
    ws_data = json.loads(ws_out.read_text())
    frames = sorted(ws_data["frames"])
    result = Latency(label, probes=len(probes), publisher=pub.stdout.strip())
    wanted = set(probes)
    result.broker_ms = [(at - ts) / 1000 for ts, at in pairs if ts in wanted]
    # frame i reflects every probe up to its newest reading (running max: never goes back)
    i, newest = 0, -1
    for ts in probes:
        while i < len(frames):
            at, frame_newest, _size = frames[i]
            newest = max(newest, frame_newest or -1)
            if newest >= ts and at >= ts:
                result.e2e_ms.append((at - ts) / 1000)
                break
            i += 1
    result.frames = len(frames)
    result.extensions = ws_data.get("extensions")
    if frames:
        result.frame_bytes = max(size for _at, _n, size in frames)
        span = (frames[-1][0] - frames[0][0]) / 1e6
        result.frame_s = (len(frames) - 1) / span if span > 0 else 0.0
    result.stored = after[0] - before[0]
    result.rejected = after[1] - before[1]
    result.events = after[2] - before[2]
    result.published = len(probes) + int(_background_count(result.publisher))
    return result


def _background_count(publisher_line: str) -> int:
    words = publisher_line.split()
    with contextlib.suppress(ValueError, IndexError):
        return int(words[words.index("+") + 1])
    return 0


def snapshot_cost(system: System, extensions: str | None) -> str:
    """What one frame costs: the snapshot (REST, same computation) and its encoding per client."""
    url = f"{system.http}/api/v1/sites/{SITE}/figures"
    headers = {"Authorization": f"Bearer {system.read_token}"}
    took: list[float] = []
    body = b""
    with httpx.Client(timeout=30) as client:
        for _ in range(10):
            t0 = time.perf_counter()
            response = client.get(url, headers=headers)
            took.append((time.perf_counter() - t0) * 1000)
            response.raise_for_status()
            body = response.content
    snapshot = json.loads(body)
    rounds = 200
    t0 = time.perf_counter()
    for _ in range(rounds):
        text = json.dumps(snapshot, separators=(",", ":"), ensure_ascii=False)
    dumps_us = (time.perf_counter() - t0) / rounds * 1e6
    data = text.encode()
    t0 = time.perf_counter()
    for _ in range(rounds):
        deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)  # permessage-deflate, no context
        packed = deflate.compress(data) + deflate.flush(zlib.Z_SYNC_FLUSH)
    deflate_us = (time.perf_counter() - t0) / rounds * 1e6
    return (
        f"snapshot over REST: p50 {pct(took, 50):.0f} ms, max {max(took):.0f} ms (10 calls); "
        f"frame {len(data) / 1024:.1f} KiB, deflated {len(packed) / 1024:.1f} KiB; "
        f"per frame and client in this process: json.dumps {dumps_us:.0f} µs, "
        f"deflate {deflate_us:.0f} µs; websocket extensions negotiated: {extensions or 'none'}"
    )


def print_latency(results: list[Latency]) -> None:
    print()
    print("Latency, ms:" + " " * 21 + "p50      p99      max  probes")
    for r in results:
        print(f"{r.label}")
        print(r.line("broker (publish→subscribe)", r.broker_ms))
        print(r.line("end to end (publish→frame)", r.e2e_ms))
        ratio50 = pct(r.e2e_ms, 50) / pct(r.broker_ms, 50)
        ratio99 = pct(r.e2e_ms, 99) / pct(r.broker_ms, 99)
        print(
            f"  end-to-end / broker: p50 {ratio50:.0f}x, p99 {ratio99:.0f}x; "
            f"{r.frames} frames ({r.frame_s:.2f}/s, up to {r.frame_bytes / 1024:.0f} KiB); "
            f"probes reflected {len(r.e2e_ms)}/{r.probes}, at the broker "
            f"{len(r.broker_ms)}/{r.probes}; stored {r.stored}/{r.published}, "
            f"rejected {r.rejected}, register events {r.events}"
        )


@dataclass
class Step:
    clients: int
    connected: int = 0
    failed: int = 0
    closed: int = 0
    rates: list[float] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)
    api_cpu: float = 0.0
    api_rss_mb: float = 0.0
    client_cpu: float = 0.0
    computations_s: float = 0.0
    loaded: bool = False  # the plant reporting meanwhile (announcements: up to 4 frames/s)
    note: str = ""

    @property
    def all_rates(self) -> list[float]:
        # a client that never connected (or gave no result) delivered nothing
        return self.rates + [0.0] * (self.clients - len(self.rates))

    @property
    def p5(self) -> float:
        return pct(self.all_rates, 5)

    @property
    def degraded(self) -> bool:
        """Some client got fewer than ``DEGRADED`` updates/s, failed, or was dropped."""
        return (
            min(self.all_rates) < DEGRADED or self.failed > 0 or self.closed > 0 or bool(self.note)
        )


def measure_clients(system: System, n: int, window: float, client_procs: int) -> Step:
    step = Step(n)
    k = max(1, min(client_procs, n))
    shares = [n // k + (1 if i < n % k else 0) for i in range(k)]
    procs = [
        system.procs.start(
            f"clients-{n}-{i}",
            [
                sys.executable,
                "-m",
                "bench.live.watch",
                "clients",
                f"--url={system.ws_url}",
                f"--count={share}",
                "--ready-timeout=45",
            ],
            pipes=True,
        )
        for i, share in enumerate(shares)
    ]
    try:
        deadline = time.monotonic() + 60
        for proc in procs:
            line = _readline(proc, deadline - time.monotonic()).split()
            if len(line) != 3 or line[0] != "ready":
                step.note = "clients did not get ready in 60 s"
                return step
            step.connected += int(line[1])
            step.failed += int(line[2])
        start = time.time() + 1.0
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(f"start {start} {window}\n")
            proc.stdin.flush()
        time.sleep(max(0.0, start - time.time()))
        t0, cpu0, comp0 = time.monotonic(), system.api_cpu_s(), _computations(system, step)
        time.sleep(max(0.0, start + window - time.time()))
        t1, cpu1, comp1 = time.monotonic(), system.api_cpu_s(), _computations(system, step)
        step.api_rss_mb = system.api_rss_mb()
        step.api_cpu = (cpu1 - cpu0) / (t1 - t0) * 100
        step.computations_s = (comp1 - comp0) / (t1 - t0)
        client_cpu = 0.0
        for proc in procs:
            line_json = _readline(proc, 30)
            if not line_json.startswith("{"):
                step.note = "a client process gave no result"
                return step
            out: dict[str, Any] = json.loads(line_json)
            step.rates += [c / window for c in out["counts"]]
            step.gaps += out["gaps"]
            step.closed += int(out["closed"])
            step.failed = max(step.failed, int(out["failed"]))
            client_cpu += float(out["cpu_s"])
        step.client_cpu = client_cpu / window * 100
        return step
    finally:
        for proc in procs:
            system.procs.stop(proc)


def _computations(system: System, step: Step) -> float:
    """The API's snapshot count, or nan (noted) when it does not answer in time."""
    try:
        return system.computations()
    except httpx.HTTPError as exc:
        step.note = f"GET /metrics failed ({type(exc).__name__}): the API is saturated"
        return float("nan")


def _progress(step: Step) -> None:
    print(
        f"  N={step.clients}{' + plant reporting' if step.loaded else ''}: "
        f"p5 {step.p5:.2f} updates/s, API CPU {step.api_cpu:.0f} %, "
        f"{step.computations_s:.2f} snapshots/s {step.note}",
        flush=True,
    )


def print_clients(steps: list[Step]) -> None:
    print()
    print(
        f"{'clients':>7}{'connected':>10}{'updates/s p5':>13}{'min':>6}"
        f"{'gap p50 s':>10}{'gap p99 s':>10}{'gap max':>8}{'API CPU%':>9}{'API RSS MB':>11}"
        f"{'snapshots/s':>12}{'client CPU%':>12}  note"
    )
    for s in steps:
        note = s.note or ("" if not s.degraded else "degraded")
        if s.loaded:
            note = f"plant reporting (41 readings/s, announced) {note}"
        if s.closed:
            note += f" ({s.closed} dropped)"
        print(
            f"{s.clients:>7}{s.connected:>10}{s.p5:>13.2f}{min(s.all_rates):>6.2f}"
            f"{pct(s.gaps, 50):>10.3f}{pct(s.gaps, 99):>10.3f}{max(s.gaps, default=0):>8.2f}"
            f"{s.api_cpu:>9.0f}{s.api_rss_mb:>11.0f}{s.computations_s:>12.2f}"
            f"{s.client_cpu:>12.0f}  {note}"
        )
    good = [s.clients for s in steps if s.clients > 1 and not s.degraded and not s.loaded]
    print(
        f"largest N with every client >= {DEGRADED} updates/s: "
        f"{max(good) if good else 'none of the ramp'}"
    )


# --- main --------------------------------------------------------------------------------------


def _terminate(_signum: int, _frame: object) -> None:
    raise SystemExit(143)  # run the finally blocks: processes, broker, database


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--latency-s", type=float, default=25.0, help="seconds of probes")
    parser.add_argument("--background", type=float, default=0.0, help="extra readings/s")
    parser.add_argument("--clients", default="50,100,200,400,800", help="the ramp")
    parser.add_argument("--window", type=float, default=10.0, help="seconds counted per step")
    parser.add_argument("--client-procs", type=int, default=2, help="processes the clients use")
    parser.add_argument(
        "--no-tick-only", action="store_true", help="skip the latency without announcements"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    signal.signal(signal.SIGTERM, _terminate)
    latency_s = min(args.latency_s, 60.0)
    window = min(args.window, 30.0)
    ramp = [int(x) for x in args.clients.split(",") if x.strip()]

    name = f"gp_live_{uuid.uuid4().hex[:8]}"
    workdir = Path(tempfile.mkdtemp(prefix="greenpulse-bench-live-"))
    procs = Procs(workdir)
    broker: Mosquitto | None = None
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        dsn = ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
        engine = make_engine(dsn.replace("postgresql://", "postgresql+psycopg://"))
        storage = migrate.upgrade(engine, timescaledb=True)
        sync_plant(make_sessionmaker(engine), load_plant())
        engine.dispose()
        broker = start_mosquitto(data_dir=workdir / "mosquitto")
        prefix = f"bench-live-{uuid.uuid4().hex[:6]}"
        read_token = secrets.token_urlsafe(16)
        env = dict(
            os.environ,
            GREENPULSE_DATABASE_URL=dsn.replace("postgresql://", "postgresql+psycopg://"),
            GREENPULSE_MQTT_URL=broker.url,
            GREENPULSE_MQTT_TOPIC_PREFIX=prefix,
            GREENPULSE_MQTT_CLIENT_ID=f"{prefix}-ingest",
            GREENPULSE_HOST="127.0.0.1",
            GREENPULSE_PORT=str(free_port()),
            GREENPULSE_API_TOKEN=secrets.token_urlsafe(24),
            GREENPULSE_READ_TOKEN=read_token,
            GREENPULSE_LOG_LEVEL="INFO",
        )
        env.pop("GREENPULSE_PLANT_FILE", None)
        # the API logs warnings only: no access-log line per websocket connection
        api_env = dict(env, GREENPULSE_LOG_LEVEL="WARNING")
        system = System(
            procs, broker, dsn, prefix, int(env["GREENPULSE_PORT"]), read_token, env, api_env
        )
        system.start_ingester()
        system.start_api()
        load = os.getloadavg()
        print(
            f"database {name}: {storage.mode.value}; broker on port {broker.port}; "
            f"API on port {system.api_port}; {os.cpu_count()} cores, load average "
            f"{load[0]:.1f} at start; logs {workdir}"
        )

        latencies = [
            measure_latency(
                system,
                "shipped",
                "greenpulse ingest (as shipped)",
                latency_s,
                args.background,
                workdir,
            )
        ]
        print_latency(latencies)
        print(snapshot_cost(system, latencies[0].extensions), flush=True)

        # wall screens at one update per second: no readings flowing, so no announcements
        # and the hub's 1 s tick alone drives the frames
        steps: list[Step] = []
        tick_reserve = latency_s + 45 if not args.no_tick_only else 10
        reserve = tick_reserve + window + 30  # the loaded step, then the tick-only latency
        for n in [1, *ramp]:
            left = BUDGET_S - (time.monotonic() - started) - reserve
            if left < window + 25 + n / 40:
                print(f"  (ramp stopped before N={n}: time budget)")
                break
            step = measure_clients(system, n, window, args.client_procs)
            steps.append(step)
            _progress(step)
            if n > 1 and step.degraded:
                break
        # the largest good N again, with the plant reporting: announcements push up to
        # 4 snapshots a second to every client (what the shipped ingester does)
        good = [s.clients for s in steps if not s.degraded]
        left = BUDGET_S - (time.monotonic() - started) - tick_reserve
        if good and left > window + 30:
            steady = procs.start(
                "clients-publisher", system.publisher(window + 60, args.background)
            )
            try:
                time.sleep(2)
                step = measure_clients(system, max(good), window, args.client_procs)
                step.loaded = True
                steps.append(step)
                _progress(step)
            finally:
                procs.stop(steady)
        print_clients(steps)

        if not args.no_tick_only:
            if BUDGET_S - (time.monotonic() - started) < latency_s + 40:
                print("\n(tick-only latency skipped: time budget)")
            else:
                system.start_ingester(tick_only=True)
                latencies.append(
                    measure_latency(
                        system,
                        "tickonly",
                        "tick only: the same ingester without the /live announcement",
                        latency_s,
                        args.background,
                        workdir,
                    )
                )
                print_latency(latencies)
        print(f"\ntook {time.monotonic() - started:.0f} s")
        return 0
    finally:
        procs.stop_all()
        if broker is not None:
            broker.stop()
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
