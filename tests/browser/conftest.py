"""A running GreenPulse stack (uvicorn in a subprocess, SQLite, live readings) and Chromium.

Chromium is Debian's ``/usr/bin/chromium`` driven by Playwright (Playwright's own browser
download is not used). Missing Chromium skips these tests, and fails them under CI=true.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import IN_CI, require

if not IN_CI:  # in CI a missing Playwright is an import error, never a skip
    pytest.importorskip("playwright.sync_api", reason="Playwright (the dev extra) is needed")

from playwright.sync_api import Browser, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from app.db import migrate
from app.db.engine import make_engine, make_sessionmaker
from app.plant.file import demo_plant_path, load_plant
from app.plant.sync import sync_plant
from ingest.writer import BatchWriter
from tests.browser.feed import LiveWriter, PlantFeed, open_alerts, seed_history

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = os.environ.get("GREENPULSE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
WRITE_TOKEN = "wall-test-write-token"
READ_TOKEN = "wall-test-read-token"
STARTUP_TIMEOUT_S = 20.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Stack:
    """One uvicorn server over one SQLite database, restartable on the same port."""

    database_url: str
    workdir: Path
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None
    live: LiveWriter | None = None
    starts: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wall_url(self, token: str | None = READ_TOKEN, site: str = "guian") -> str:
        return f"{self.base_url}/wall/{site}" + (f"?token={token}" if token is not None else "")

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GREENPULSE_")}
        env.update(
            GREENPULSE_DATABASE_URL=self.database_url,
            GREENPULSE_API_TOKEN=WRITE_TOKEN,
            GREENPULSE_READ_TOKEN=READ_TOKEN,
            # no broker: the API recomputes every second without MQTT nudges
            GREENPULSE_MQTT_URL=f"mqtt://127.0.0.1:{_free_port()}",
            GREENPULSE_FACTOR_FILE=str(demo_plant_path().parent / "demo_factor_overrides.yaml"),
            GREENPULSE_LOG_LEVEL="WARNING",
            PYTHONPATH=str(ROOT),
        )
        return env

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        self.starts += 1
        log = (self.workdir / f"uvicorn-{self.starts}.log").open("wb")
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "app.commands.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
        ]
        # cwd is the scratch directory so no stray .env changes the settings
        self.process = subprocess.Popen(
            command, cwd=self.workdir, env=self._env(), stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited at start-up:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"uvicorn did not answer in {STARTUP_TIMEOUT_S} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """Kill the server as a crash would (SIGKILL), and wait for it to be gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def log_tail(self) -> str:
        logs = sorted(self.workdir.glob("uvicorn-*.log"))
        return logs[-1].read_text(errors="replace")[-3000:] if logs else ""

    def figures(self, site: str = "guian") -> dict[str, Any]:
        response = httpx.get(
            f"{self.base_url}/api/v1/sites/{site}/figures",
            headers={"Authorization": f"Bearer {READ_TOKEN}"},
            timeout=5,
        )
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """24 h of readings, two open alerts, a running server and a writer adding readings."""
    workdir = tmp_path_factory.mktemp("wall")
    url = f"sqlite:///{workdir / 'greenpulse.db'}"
    engine = make_engine(url)
    storage = migrate.upgrade(engine)
    factory = make_sessionmaker(engine)
    plant = load_plant()
    sync_plant(factory, plant)
    now = datetime.now(UTC)
    feed = PlantFeed(plant, now)
    writer = BatchWriter(factory, plant, storage)
    seed_history(writer, feed)
    open_alerts(factory, now)
    live = LiveWriter(writer, feed, interval_s=1.0)
    server = Stack(url, workdir, live=live)
    try:
        server.start()
        live.start()
        yield server
    finally:
        live.stop()
        server.kill()
        engine.dispose()
    assert not live.errors, f"the live writer failed: {live.errors[:3]}"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Headless Chromium through Playwright's sync API."""
    if shutil.which(CHROMIUM) is None:
        require("Chromium", f"no browser at {CHROMIUM}")
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=30_000
            )
        except PlaywrightError as exc:
            require("Chromium", f"it would not start: {exc}")
            raise
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
