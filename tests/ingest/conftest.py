"""Real processes for the ingest tests: a throwaway Mosquitto, a throwaway PostgreSQL
cluster, migrated databases, an ingester process and a publisher process.

Every wait is bounded; under CI=true a missing Mosquitto or PostgreSQL fails.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from app.db import migrate
from app.db.engine import make_engine, make_sessionmaker
from app.plant.file import load_plant
from app.plant.sync import sync_plant
from ingest.broker import Mosquitto, free_port
from tests.conftest import PG_ADMIN_DSN, require

REPO = Path(__file__).resolve().parents[2]


# --- databases ---------------------------------------------------------------------------------


@dataclass
class Database:
    """A migrated database with the demo plant loaded, for ingester processes."""

    url: str  # SQLAlchemy URL (what GREENPULSE_DATABASE_URL gets)
    dsn: str | None  # libpq DSN (PostgreSQL only)

    def query(self, sql: str) -> list[tuple[object, ...]]:
        engine = make_engine(self.url)
        try:
            from sqlalchemy import text

            with engine.connect() as conn:
                return [tuple(row) for row in conn.execute(text(sql))]
        finally:
            engine.dispose()

    def scalar_rejected(self) -> int:
        return int(str(self.query("SELECT count(*) FROM rejected_messages")[0][0]))

    def count(self) -> int:
        return int(str(self.query("SELECT count(*) FROM readings")[0][0]))

    def reading_keys(self) -> list[tuple[str, datetime]]:
        """(meter, time) of every stored reading, times as aware UTC."""
        from sqlalchemy import select

        from app.db.models import ReadingRow

        engine = make_engine(self.url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(select(ReadingRow.meter_id, ReadingRow.time)).all()
        finally:
            engine.dispose()
        return [(m, t if t.tzinfo else t.replace(tzinfo=UTC)) for m, t in rows]


def _prepare(url: str, *, timescaledb: bool) -> None:
    engine = make_engine(url)
    try:
        storage = migrate.upgrade(engine, timescaledb=timescaledb)
        if timescaledb and not storage.hypertables:
            require("TimescaleDB", storage.reason)
        sync_plant(make_sessionmaker(engine), load_plant())
    finally:
        engine.dispose()


@pytest.fixture
def make_database(tmp_path: Path) -> Iterator[Callable[[str], Database]]:
    """``make_database("sqlite" | "timescaledb")``: a fresh migrated database, dropped after."""
    created: list[str] = []

    def make(kind: str) -> Database:
        if kind == "sqlite":
            url = f"sqlite:///{tmp_path / f'gp-{uuid.uuid4().hex[:6]}.db'}"
            _prepare(url, timescaledb=False)
            return Database(url, None)
        name = f"gp_test_ingest_{uuid.uuid4().hex[:8]}"
        try:
            with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
        except psycopg.OperationalError as exc:
            require("PostgreSQL", f"cannot connect to {PG_ADMIN_DSN}: {exc}")
        created.append(name)
        dsn = PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
        url = dsn.replace("postgresql://", "postgresql+psycopg://")
        _prepare(url, timescaledb=kind == "timescaledb")
        return Database(url, dsn)

    yield make
    for name in created:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class PgCluster:
    """A throwaway PostgreSQL cluster with TimescaleDB preloaded, to stop and start at will."""

    bindir: Path
    root: Path
    port: int
    run_as: list[str] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.data), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = (
            f"-c port={self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.root} -c shared_preload_libraries=timescaledb "
            "-c timescaledb.telemetry_level=off -c max_connections=50"
        )
        self._ctl("-l", str(self.root / "postgres.log"), "-w", "-t", "30", "-o", options, "start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "-w", "-t", "30", "stop")

    def kill(self) -> None:
        self._ctl("-m", "immediate", "-w", "stop")

    def database(self) -> Database:
        dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute('CREATE DATABASE "greenpulse"')
        url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/greenpulse"
        _prepare(url, timescaledb=True)
        return Database(url, url.replace("postgresql+psycopg://", "postgresql://"))


def _pg_bindir() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@pytest.fixture
def pg_cluster() -> Iterator[PgCluster]:
    """A throwaway cluster (initdb in a temp dir, free port), so the shared one is undisturbed."""
    bindir = _pg_bindir()
    if bindir is None:
        require("PostgreSQL", "initdb is not installed")
        raise AssertionError  # unreachable: require fails or skips
    # not under pytest's tmp dir: its parents are private to root, and initdb runs as postgres
    root = Path(tempfile.mkdtemp(prefix="greenpulse-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
    subprocess.run(
        [
            *run_as,
            str(bindir / "initdb"),
            "-D",
            str(root / "data"),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    cluster = PgCluster(bindir, root, free_port(), run_as)
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            cluster.kill()
        shutil.rmtree(root, ignore_errors=True)


# --- processes ---------------------------------------------------------------------------------


@dataclass
class IngesterProcess:
    """``python -m ingest`` with its environment; logs to a file."""

    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ingest"],
            env=self.env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def kill(self) -> None:
        """SIGKILL: no drain, no goodbye."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def metric(self, name: str) -> float:
        port = self.env["GREENPULSE_INGEST_METRICS_PORT"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
        raise KeyError(name)


@pytest.fixture
def ingester_factory(tmp_path: Path) -> Iterator[Callable[..., IngesterProcess]]:
    """``ingester_factory(database, broker, client_id=..., **env)``; stopped after the test."""
    started: list[IngesterProcess] = []

    def make(
        database: Database, broker: Mosquitto, client_id: str = "gp-test-ingest", **extra: str
    ) -> IngesterProcess:
        env = (
            {k: v for k, v in os.environ.items() if not k.startswith("GREENPULSE_")}
            | {
                "GREENPULSE_DATABASE_URL": database.url,
                "GREENPULSE_MQTT_URL": broker.url,
                "GREENPULSE_MQTT_CLIENT_ID": client_id,
                "GREENPULSE_INGEST_SUMMARY_INTERVAL_S": "2",
                "GREENPULSE_INGEST_RETRY_MAX_S": "1",
                "GREENPULSE_INGEST_RECONNECT_MAX_S": "2",
                "GREENPULSE_INGEST_JOURNAL_FILE": str(tmp_path / f"{client_id}.journal.json"),
                "PYTHONUNBUFFERED": "1",
            }
            | {f"GREENPULSE_{k.upper()}": v for k, v in extra.items()}
        )
        proc = IngesterProcess(env, tmp_path / f"{client_id}.log")
        started.append(proc)
        proc.start()
        return proc

    yield make
    for proc in started:
        proc.stop(5)


def start_publisher(
    broker: Mosquitto,
    count: int,
    *,
    rate: float | None = None,
    per_message: int = 1,
    end: str | None = None,
    timeout_s: float = 60.0,
) -> subprocess.Popen[str]:
    """``python -m bench.ingest.publish`` in its own process (QoS 1, waits for every PUBACK)."""
    args = [
        sys.executable,
        "-m",
        "bench.ingest.publish",
        f"--port={broker.port}",
        f"--count={count}",
        f"--per-message={per_message}",
        f"--timeout={timeout_s}",
        f"--client-id=gp-test-pub-{uuid.uuid4().hex[:6]}",
    ]
    if rate:
        args.append(f"--rate={rate}")
    if end:
        args.append(f"--end={end}")
    return subprocess.Popen(
        args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def wait_until(
    condition: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.2
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
