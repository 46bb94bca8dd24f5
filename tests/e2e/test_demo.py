"""`greenpulse demo` end to end: one command brings up broker, SQLite, simulator, ingester,
alerts and API; the wall-screen URL it prints serves live figures; Ctrl-C stops it cleanly."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_line(proc: subprocess.Popen[str], pattern: str, timeout_s: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout_s
    seen: list[str] = []
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    raise AssertionError(f"demo never printed {pattern!r}; output:\n{''.join(seen)}")


def test_demo_serves_live_figures_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port, mqtt_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENPULSE_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from app.commands.cli import main; main()",
            "demo",
            "--port",
            str(port),
            "--mqtt-port",
            str(mqtt_port),
            "--backfill-hours",
            "3",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        match = _wait_for_line(proc, r"wall screen: (http://\S+/wall/guian\?token=(\S+))", 60)
        wall_url, token = match.group(1), match.group(2)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10) as http:
            page = http.get(wall_url)
            assert page.status_code == 200 and "<html" in page.text.lower()
            figures = _wait_for_live_figures(http, token)
            hour = figures["periods"]["hour"]
            assert hour["energy"]["grid_import_kwh"] > 0
            assert figures["periods"]["today"]["energy"]["pv_kwh"] >= 0
            assert figures["freshness"]["age_s"] is not None
            assert figures["freshness"]["age_s"] < 600  # simulated seconds behind "now"
            # history was backfilled: the chart is not empty
            assert sum(1 for v in figures["history"]["average_rate"]["grid_import"] if v > 0) >= 3
        proc.send_signal(signal.SIGINT)
        _wait_for_line(proc, r"GreenPulse demo stopped", 30)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _wait_for_live_figures(http: httpx.Client, token: str) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + 90
    last: dict = {}  # type: ignore[type-arg]
    while time.monotonic() < deadline:
        response = http.get("/api/v1/sites/guian/figures", params={"token": token})
        assert response.status_code == 200, response.text
        last = response.json()
        if last["periods"]["hour"]["energy"]["grid_import_kwh"] > 0:
            return last
        time.sleep(1)
    raise AssertionError(f"no live figures within 90 s: {last.get('freshness')}")
